// CUDA kernel: the CPU kernel's contract on a GPU. Map: one block per (row, vocabulary slice) computes an online
// (max, Σexp, first argmax, NaN flag) over its slice with 16-byte loads (bf16/fp16 widened in registers) and a
// warp-shuffle merge; reduce: one thread per row merges the slices (split-vocab, used when rows are too few to
// fill the GPU), gathers the K allowed ids and writes the outputs. Header-only templates, no Python.
#pragma once

#include <cstdint>

#include "problem.hpp"

namespace medadapt_decoding::cuda {

struct SlicePartial {
  float max;
  float sum;
  int64_t argmax;
  int nan;
};

template <class Elem>
struct Widen;

template <>
struct Widen<float> {
  static constexpr int kVec = 4;  // elements per 16-byte load
  __device__ static float one(const float* p) { return __ldg(p); }
  __device__ static void vec(const float* p, float* out) {
    float4 v = __ldg(reinterpret_cast<const float4*>(p));
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
  }
};

struct Bf16Bits {
  uint16_t bits;
};
struct F16Bits {
  uint16_t bits;
};

__device__ inline float bf16_bits_to_float(uint32_t bits) { return __uint_as_float(bits << 16); }

__device__ inline float f16_bits_to_float(uint32_t h) {
  uint32_t sign = (h & 0x8000u) << 16, em = h & 0x7fffu;
  if (em >= 0x7c00u) return __uint_as_float(sign | 0x7f800000u | ((em & 0x3ffu) << 13));
  return __uint_as_float(__float_as_uint(__uint_as_float(em << 13) * 0x1p112f) | sign);
}

template <>
struct Widen<Bf16Bits> {
  static constexpr int kVec = 8;
  __device__ static float one(const Bf16Bits* p) {
    return bf16_bits_to_float(__ldg(reinterpret_cast<const unsigned short*>(p)));
  }
  __device__ static void vec(const Bf16Bits* p, float* out) {
    uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(w[i] << 16);
      out[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  }
};

template <>
struct Widen<F16Bits> {
  static constexpr int kVec = 8;
  __device__ static float one(const F16Bits* p) {
    return f16_bits_to_float(__ldg(reinterpret_cast<const unsigned short*>(p)));
  }
  __device__ static void vec(const F16Bits* p, float* out) {
    uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = f16_bits_to_float(w[i] & 0xffffu);
      out[2 * i + 1] = f16_bits_to_float(w[i] >> 16);
    }
  }
};

struct Online {
  float m = -INFINITY;
  float s = 0.0f;
  int64_t arg = INT64_MAX;
  int nan = 0;

  __device__ void add(float x, int64_t idx) {
    nan |= isnan(x);
    if (x > m) {
      if (m > -INFINITY) s *= __expf(m - x);
      m = x;
      arg = idx;
    }
    if (x > -INFINITY && m < INFINITY) s += __expf(x - m);
  }

  __device__ void merge(float om, float os, int64_t oarg, int onan) {
    nan |= onan;
    if (om > m || (om == m && oarg < arg)) {
      if (om > m) {
        if (m > -INFINITY && om < INFINITY) s = s * __expf(m - om) + os;
        else s = os;
        m = om;
      } else {
        s += os;
      }
      arg = oarg;
    } else if (om > -INFINITY && m < INFINITY) {
      s += os * __expf(om - m);
    }
  }
};

template <class Elem, int kThreads>
__global__ void __launch_bounds__(kThreads) map_slices(const Elem* logits, int64_t vocab, int64_t row_stride,
                                                       int64_t slice_len, SlicePartial* partials) {
  const int64_t row = blockIdx.y;
  const int64_t slice = blockIdx.x;
  const Elem* x = logits + row * row_stride;
  const int64_t begin = slice * slice_len;
  const int64_t end = begin + slice_len < vocab ? begin + slice_len : vocab;
  constexpr int V = Widen<Elem>::kVec;
  Online acc;
  int64_t i = begin;
  const bool aligned = (reinterpret_cast<uintptr_t>(x + begin) % 16) == 0;
  if (aligned) {
    const int64_t n_vec = (end - begin) / V;
    for (int64_t t = threadIdx.x; t < n_vec; t += kThreads) {
      float v[V];
      Widen<Elem>::vec(x + begin + t * V, v);
      float lm = v[0];
#pragma unroll
      for (int j = 1; j < V; ++j) lm = v[j] > lm ? v[j] : lm;
      int any_nan = 0;
#pragma unroll
      for (int j = 0; j < V; ++j) any_nan |= isnan(v[j]);
      acc.nan |= any_nan;
      const int64_t base = begin + t * V;
      if (lm > acc.m) {
        if (acc.m > -INFINITY && lm < INFINITY) acc.s *= __expf(acc.m - lm);
        else acc.s = 0.0f;
        acc.m = lm;
#pragma unroll
        for (int j = V - 1; j >= 0; --j)
          if (v[j] == lm) acc.arg = base + j;
      }
      if (acc.m > -INFINITY && acc.m < INFINITY) {
#pragma unroll
        for (int j = 0; j < V; ++j) acc.s += __expf(v[j] - acc.m);
      }
    }
    i = begin + n_vec * V;
  }
  for (int64_t t = i + threadIdx.x; t < end; t += kThreads) acc.add(Widen<Elem>::one(x + t), t);

  // warp merge, then one warp merges the warps
  for (int off = 16; off > 0; off >>= 1) {
    float om = __shfl_down_sync(0xffffffffu, acc.m, off);
    float os = __shfl_down_sync(0xffffffffu, acc.s, off);
    long long oa = __shfl_down_sync(0xffffffffu, static_cast<long long>(acc.arg), off);
    int on = __shfl_down_sync(0xffffffffu, acc.nan, off);
    acc.merge(om, os, oa, on);
  }
  __shared__ float sm[kThreads / 32], ss[kThreads / 32];
  __shared__ int64_t sa[kThreads / 32];
  __shared__ int sn[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sm[warp] = acc.m;
    ss[warp] = acc.s;
    sa[warp] = acc.arg;
    sn[warp] = acc.nan;
  }
  __syncthreads();
  if (warp == 0) {
    Online w;
    if (lane < kThreads / 32) {
      w.m = sm[lane];
      w.s = ss[lane];
      w.arg = sa[lane];
      w.nan = sn[lane];
    }
    for (int off = 16; off > 0; off >>= 1) {
      float om = __shfl_down_sync(0xffffffffu, w.m, off);
      float os = __shfl_down_sync(0xffffffffu, w.s, off);
      long long oa = __shfl_down_sync(0xffffffffu, static_cast<long long>(w.arg), off);
      int on = __shfl_down_sync(0xffffffffu, w.nan, off);
      w.merge(om, os, oa, on);
    }
    if (lane == 0) partials[row * gridDim.x + slice] = SlicePartial{w.m, w.s, w.arg, w.nan};
  }
}

// One thread per row: merge the slices in double, gather the K ids, argmax over them.
template <class Elem>
__global__ void reduce_rows(const Elem* logits, int64_t rows, int64_t row_stride, int slices,
                            const SlicePartial* partials, const int64_t* ids, int64_t k, float* logprobs, float* lse,
                            int64_t* argmax, int64_t* top, float* row_max, uint8_t* has_nan) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const SlicePartial* p = partials + r * slices;
  float m = -INFINITY;
  int64_t arg = -1;
  int nan = 0;
  for (int s = 0; s < slices; ++s) {
    nan |= p[s].nan;
    if (p[s].max > m) {
      m = p[s].max;
      arg = p[s].argmax;
    }
  }
  const bool finite = !nan && m > -INFINITY && m < INFINITY;
  double sum = 0.0;
  if (finite)
    for (int s = 0; s < slices; ++s)
      if (p[s].max > -INFINITY) sum += static_cast<double>(p[s].sum) * exp(static_cast<double>(p[s].max) - m);
  const double l = finite ? static_cast<double>(m) + log(sum) : 0.0;
  lse[r] = static_cast<float>(l);
  row_max[r] = nan ? NAN : m;
  has_nan[r] = nan ? 1 : 0;
  top[r] = finite ? arg : -1;
  const Elem* x = logits + r * row_stride;
  int64_t best_k = -1;
  float best = 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t id = ids[r * k + j];
    float lp = -INFINITY;
    if (id >= 0) {
      lp = static_cast<float>(static_cast<double>(Widen<Elem>::one(x + id)) - l);
      if (best_k < 0 || lp > best) {
        best = lp;
        best_k = j;
      }
    }
    logprobs[r * k + j] = lp;
  }
  argmax[r] = best_k;
}

}  // namespace medadapt_decoding::cuda
