// Compiled at configure time for the chosen architectures: if this fails, the build falls back to CPU only.
#include <cuda_runtime.h>
#include <cuda_bf16.h>

__global__ void probe(float* out, const __nv_bfloat16* in) { out[threadIdx.x] = __bfloat162float(in[threadIdx.x]); }
int main() { return 0; }
