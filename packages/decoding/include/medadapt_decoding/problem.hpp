// The kernel contract shared by the CPU and CUDA back ends: plain pointers and sizes, no Python, no torch.
#pragma once

#include <cstdint>

namespace medadapt_decoding {

enum class DType : int { f32 = 0, f16 = 1, bf16 = 2 };

inline int dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

// logits[b, v] lives at (element) offset b * row_stride + v; the vocabulary axis is contiguous.
// ids is row-major [rows, k], -1 pads a row; every id is already checked to lie in [-1, vocab).
struct Problem {
  const void* logits = nullptr;
  DType dtype = DType::f32;
  int64_t rows = 0;
  int64_t vocab = 0;
  int64_t row_stride = 0;
  const int64_t* ids = nullptr;
  int64_t k = 0;
  // outputs: logprobs [rows, k], lse/argmax/top/row_max/has_nan [rows]
  float* logprobs = nullptr;
  float* lse = nullptr;
  int64_t* argmax = nullptr;
  int64_t* top_token = nullptr;
  float* row_max = nullptr;    // lets the caller tell all -inf (−inf) and +inf rows apart
  uint8_t* has_nan = nullptr;  // 1 when the row holds a NaN: its log-sum-exp is undefined
};

// (max, Σ exp(x - max)) of a span, plus the first element index holding the max: mergeable across spans.
struct Partial {
  float max;
  double sum;
  int64_t best_begin;  // start of the first block whose max equals `max`
  int64_t best_end;
  bool nan;
};

}  // namespace medadapt_decoding
