// Picks the widest CPU kernel build this processor can run (no -march=native: decided at run time).
#include "cpu_dispatch.hpp"

namespace medadapt_decoding {

void run_cpu_baseline(const Problem& pb, int threads);
#if MEDADAPT_DECODING_HAVE_AVX2
void run_cpu_avx2(const Problem& pb, int threads);
#endif
#if MEDADAPT_DECODING_HAVE_AVX512
void run_cpu_avx512(const Problem& pb, int threads);
#endif

const char* cpu_isa() {
#if MEDADAPT_DECODING_HAVE_AVX512
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return "avx512";
#endif
#if MEDADAPT_DECODING_HAVE_AVX2
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
#endif
  return "baseline";
}

void run_cpu(const Problem& pb, int threads, const char* isa) {
  const char* chosen = isa ? isa : cpu_isa();
#if MEDADAPT_DECODING_HAVE_AVX512
  if (chosen[0] == 'a' && chosen[3] == '5') return run_cpu_avx512(pb, threads);
#endif
#if MEDADAPT_DECODING_HAVE_AVX2
  if (chosen[0] == 'a' && chosen[3] == '2') return run_cpu_avx2(pb, threads);
#endif
  run_cpu_baseline(pb, threads);
}

}  // namespace medadapt_decoding
