// The CPU kernel compiled for one instruction set (baseline); flags come from CMakeLists.txt.
#define MEDADAPT_DECODING_ISA baseline
#define MEDADAPT_DECODING_LANES 4
#include "medadapt_decoding/cpu_kernel.hpp"

namespace medadapt_decoding {
void run_cpu_baseline(const Problem& pb, int threads) { baseline::run(pb, threads); }
}  // namespace medadapt_decoding
