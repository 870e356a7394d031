// The CPU kernel compiled for one instruction set (avx2); flags come from CMakeLists.txt.
#define MEDADAPT_DECODING_ISA avx2
#define MEDADAPT_DECODING_LANES 8
#include "medadapt_decoding/cpu_kernel.hpp"

namespace medadapt_decoding {
void run_cpu_avx2(const Problem& pb, int threads) { avx2::run(pb, threads); }
}  // namespace medadapt_decoding
