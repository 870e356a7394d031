// The CPU kernel compiled for one instruction set (avx512); flags come from CMakeLists.txt.
#define MEDADAPT_DECODING_ISA avx512
#define MEDADAPT_DECODING_LANES 16
#include "medadapt_decoding/cpu_kernel.hpp"

namespace medadapt_decoding {
void run_cpu_avx512(const Problem& pb, int threads) { avx512::run(pb, threads); }
}  // namespace medadapt_decoding
