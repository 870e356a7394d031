// Launcher of the CUDA kernel: scratch on the caller's stream, map + reduce launches, outputs copied to the host.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/cuda_launch.hpp"
#include "medadapt_decoding/cuda_kernel.cuh"

namespace medadapt_decoding {
namespace {

constexpr int kThreads = 256;

struct DeviceGuard {
  int previous = -1;
  explicit DeviceGuard(int device) {
    cudaGetDevice(&previous);
    if (previous != device) cudaSetDevice(device);
  }
  ~DeviceGuard() {
    if (previous >= 0) cudaSetDevice(previous);
  }
};

template <class Elem>
cudaError_t launch(const Problem& pb, cudaStream_t stream, int sms, void* scratch, const int64_t* d_ids,
                   float* d_logprobs, float* d_lse, int64_t* d_argmax, int64_t* d_top, float* d_row_max,
                   uint8_t* d_nan) {
  // Split the vocabulary when rows alone would leave SMs idle (flashinfer-style map/reduce), keeping slices
  // at least 4096 elements and a multiple of 16 elements so 16-byte loads stay aligned.
  const int64_t target_blocks = 4LL * sms;
  int64_t slices = pb.rows >= target_blocks ? 1 : (target_blocks + pb.rows - 1) / pb.rows;
  const int64_t max_slices = (pb.vocab + 4095) / 4096;
  if (slices > max_slices) slices = max_slices;
  if (slices < 1) slices = 1;
  int64_t slice_len = (pb.vocab + slices - 1) / slices;
  slice_len = (slice_len + 15) / 16 * 16;
  slices = (pb.vocab + slice_len - 1) / slice_len;
  auto* partials = static_cast<cuda::SlicePartial*>(scratch);
  const Elem* logits = static_cast<const Elem*>(pb.logits);
  dim3 grid(static_cast<unsigned>(slices), static_cast<unsigned>(pb.rows));
  cuda::map_slices<Elem, kThreads><<<grid, kThreads, 0, stream>>>(logits, pb.vocab, pb.row_stride, slice_len,
                                                                   partials);
  const unsigned reduce_blocks = static_cast<unsigned>((pb.rows + 127) / 128);
  cuda::reduce_rows<Elem><<<reduce_blocks, 128, 0, stream>>>(logits, pb.rows, pb.row_stride,
                                                              static_cast<int>(slices), partials, d_ids, pb.k,
                                                              d_logprobs, d_lse, d_argmax, d_top, d_row_max, d_nan);
  return cudaGetLastError();
}

}  // namespace

std::string run_cuda(const Problem& pb, int device, std::uintptr_t stream_handle) {
  if (pb.rows == 0) return "";
  DeviceGuard guard(device);
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(stream_handle);
  int sms = 0;
  cudaError_t err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  if (pb.rows > 65535) return "more than 65535 rows per call are not supported on CUDA; split the batch";
  const int64_t rows = pb.rows, k = pb.k;
  const int64_t max_slices = (pb.vocab + 4095) / 4096 + 1;
  // one allocation: partials | ids | logprobs | lse | argmax | top | row_max | nan
  const size_t partial_bytes = sizeof(cuda::SlicePartial) * rows * max_slices;
  const size_t ids_bytes = sizeof(int64_t) * rows * k;
  const size_t lp_bytes = sizeof(float) * rows * k;
  const size_t row_f = sizeof(float) * rows, row_i = sizeof(int64_t) * rows;
  auto align = [](size_t n) { return (n + 255) / 256 * 256; };
  const size_t total = align(partial_bytes) + align(ids_bytes) + align(lp_bytes) + 2 * align(row_f) +
                       2 * align(row_i) + align(rows);
  char* base = nullptr;
  err = cudaMallocAsync(reinterpret_cast<void**>(&base), total, stream);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  char* cur = base;
  auto take = [&](size_t n) {
    char* p = cur;
    cur += align(n);
    return p;
  };
  void* partials = take(partial_bytes);
  auto* d_ids = reinterpret_cast<int64_t*>(take(ids_bytes));
  auto* d_lp = reinterpret_cast<float*>(take(lp_bytes));
  auto* d_lse = reinterpret_cast<float*>(take(row_f));
  auto* d_max = reinterpret_cast<float*>(take(row_f));
  auto* d_arg = reinterpret_cast<int64_t*>(take(row_i));
  auto* d_top = reinterpret_cast<int64_t*>(take(row_i));
  auto* d_nan = reinterpret_cast<uint8_t*>(take(rows));
  err = cudaMemcpyAsync(d_ids, pb.ids, ids_bytes, cudaMemcpyHostToDevice, stream);
  if (err == cudaSuccess) {
    switch (pb.dtype) {
      case DType::f32:
        err = launch<float>(pb, stream, sms, partials, d_ids, d_lp, d_lse, d_arg, d_top, d_max, d_nan);
        break;
      case DType::f16:
        err = launch<cuda::F16Bits>(pb, stream, sms, partials, d_ids, d_lp, d_lse, d_arg, d_top, d_max, d_nan);
        break;
      default:
        err = launch<cuda::Bf16Bits>(pb, stream, sms, partials, d_ids, d_lp, d_lse, d_arg, d_top, d_max, d_nan);
        break;
    }
  }
  if (err == cudaSuccess) err = cudaMemcpyAsync(pb.logprobs, d_lp, lp_bytes, cudaMemcpyDeviceToHost, stream);
  if (err == cudaSuccess) err = cudaMemcpyAsync(pb.lse, d_lse, row_f, cudaMemcpyDeviceToHost, stream);
  if (err == cudaSuccess) err = cudaMemcpyAsync(pb.row_max, d_max, row_f, cudaMemcpyDeviceToHost, stream);
  if (err == cudaSuccess) err = cudaMemcpyAsync(pb.argmax, d_arg, row_i, cudaMemcpyDeviceToHost, stream);
  if (err == cudaSuccess) err = cudaMemcpyAsync(pb.top_token, d_top, row_i, cudaMemcpyDeviceToHost, stream);
  if (err == cudaSuccess) err = cudaMemcpyAsync(pb.has_nan, d_nan, rows, cudaMemcpyDeviceToHost, stream);
  cudaFreeAsync(base, stream);
  cudaError_t sync = cudaStreamSynchronize(stream);
  if (err == cudaSuccess) err = sync;
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

}  // namespace medadapt_decoding
