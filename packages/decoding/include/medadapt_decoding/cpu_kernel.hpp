// CPU kernel: full-vocabulary log-sum-exp fused with the gather of K allowed ids, one DRAM read per row.
//
// Each row is walked in L1-sized blocks: a max pass over the block (loaded from DRAM), then an exp-sum pass over
// the same block while it is still in L1/L2, and the (max, Σ) pairs of the blocks are merged by rescaling. Rows
// are spread over threads; when there are fewer rows than threads each row is cut into spans whose (max, Σ) pairs
// are merged the same way (split-vocab). The exp is a polynomial on x - max <= 0 written with GCC vector
// extensions, so the same code becomes SSE2, AVX2 or AVX-512 according to the flags of the translation unit that
// includes this header. Every definition lives in the namespace named by MEDADAPT_DECODING_ISA, so the copies
// compiled for different instruction sets never merge at link time.
#pragma once

#include <cstdint>

#include "problem.hpp"

#ifndef MEDADAPT_DECODING_ISA
#define MEDADAPT_DECODING_ISA generic
#endif
#ifndef MEDADAPT_DECODING_LANES
#define MEDADAPT_DECODING_LANES 4
#endif

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace medadapt_decoding {
namespace MEDADAPT_DECODING_ISA {

constexpr int kLanes = MEDADAPT_DECODING_LANES;
// 4096 elements: 16 KiB of fp32 stays in L1 between the max and the exp pass, and keeps each fp32 partial
// sum short (4096 / (kSumUnroll * lanes) terms per lane) so the sum stays within the accuracy budget.
constexpr int64_t kBlock = 4096;
constexpr int kUnroll = 4;  // max pass: independent max chains
// exp pass: out-of-order execution already overlaps iterations; more accumulators only spill registers on AVX2
constexpr int kSumUnroll = kLanes >= 16 ? 4 : 2;

typedef float vfloat __attribute__((vector_size(kLanes * 4)));
typedef int32_t vint __attribute__((vector_size(kLanes * 4)));
typedef uint32_t vuint __attribute__((vector_size(kLanes * 4)));
typedef uint16_t vhalf __attribute__((vector_size(kLanes * 2)));

static inline float scalar_bits_to_float(uint32_t bits) {
  float out;
  __builtin_memcpy(&out, &bits, sizeof out);
  return out;
}

// One element widened to float: exact for bf16 (bits << 16) and fp16 (integer re-biasing, subnormals included).
template <class Elem>
struct Loader;

template <>
struct Loader<float> {
  static constexpr uint16_t kNegInfBits = 0;
  static inline vfloat vec(const float* p) {
    vfloat v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
  static inline float one(const float* p) { return *p; }
};

struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

template <>
struct Loader<Bf16> {
  static constexpr uint16_t kNegInfBits = 0xff80;
  static inline vfloat vec(const Bf16* p) {
    vhalf h;
    __builtin_memcpy(&h, p, sizeof h);
    vuint wide = __builtin_convertvector(h, vuint) << 16;
    return (vfloat)(wide);
  }
  static inline float one(const Bf16* p) { return scalar_bits_to_float(static_cast<uint32_t>(p->bits) << 16); }
};

template <>
struct Loader<F16> {
  static constexpr uint16_t kNegInfBits = 0xfc00;
  static inline vfloat vec(const F16* p) {
    vhalf h;
    __builtin_memcpy(&h, p, sizeof h);
    vuint w = __builtin_convertvector(h, vuint);
    vuint sign = (w & 0x8000u) << 16;
    vuint em = w & 0x7fffu;
    vuint shifted = em << 13;
    vfloat f = (vfloat)(shifted) * 0x1p112f;
    vuint fb = (vuint)(f);
    vuint special = shifted | 0x7f800000u;
    vint is_special = (vint)(em) >= 0x7c00;
    vuint out = (is_special ? special : fb) | sign;
    return (vfloat)(out);
  }
  static inline float one(const F16* p) {
    uint32_t em = p->bits & 0x7fffu, sign = static_cast<uint32_t>(p->bits & 0x8000u) << 16;
    if (em >= 0x7c00u) return scalar_bits_to_float(sign | 0x7f800000u | ((em & 0x3ffu) << 13));
    float f = scalar_bits_to_float(em << 13) * 0x1p112f;
    uint32_t fb;
    __builtin_memcpy(&fb, &f, sizeof fb);
    return scalar_bits_to_float(fb | sign);
  }
};

static inline vfloat splat(float v) {
  vfloat out = {};
  return out + v;
}

// exp(t) for t <= 0 (NaN-free input), exactly 0 below -87.3 (so -inf contributes 0): range reduction
// t = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial (Cephes coefficients), 2^n built in the exponent bits.
// Lanes below -87.3 compute garbage (even NaN for -inf) that the final select discards. No -ffast-math needed.
static inline vfloat exp_nonpositive(vfloat t) {
  vint underflow = t < splat(-87.3f);
  const vfloat magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  vfloat k = t * 1.44269504088896341f + magic;
  vfloat n = k - magic;
  vfloat r = t - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vfloat p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  vint ni = (vint)(k) - 0x4b400000;
  vint scale_bits = (ni + 127) << 23;
  vfloat result = p * (vfloat)(scale_bits);
  vfloat zero = {};
  return underflow ? zero : result;
}

static inline float hmax(vfloat v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

static inline double hsum(vfloat v) {
  double s = 0.0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// Max of x[0, n) and whether a NaN is present (NaN never wins `x > m`, so it is tracked separately).
template <class Elem>
static inline float block_max(const Elem* x, int64_t n, bool* nan) {
  const vfloat neg_inf = splat(-__builtin_inff());
  vfloat m[kUnroll];
  vint bad = {};
  for (int u = 0; u < kUnroll; ++u) m[u] = neg_inf;
  int64_t i = 0;
  for (; i + kUnroll * kLanes <= n; i += kUnroll * kLanes) {
    for (int u = 0; u < kUnroll; ++u) {
      vfloat v = Loader<Elem>::vec(x + i + u * kLanes);
      m[u] = v > m[u] ? v : m[u];
      bad |= v != v;
    }
  }
  for (; i + kLanes <= n; i += kLanes) {
    vfloat v = Loader<Elem>::vec(x + i);
    m[0] = v > m[0] ? v : m[0];
    bad |= v != v;
  }
  float best = hmax(m[0]);
  for (int u = 1; u < kUnroll; ++u) {
    float h = hmax(m[u]);
    best = h > best ? h : best;
  }
  bool any_nan = false;
  for (int l = 0; l < kLanes; ++l) any_nan |= bad[l] != 0;
  for (; i < n; ++i) {
    float v = Loader<Elem>::one(x + i);
    best = v > best ? v : best;
    any_nan |= v != v;
  }
  *nan = any_nan;
  return best;
}

// Σ exp(x - m) over x[0, n), m finite; each fp32 lane sums at most n / (kUnroll * kLanes) terms.
template <class Elem>
static inline double block_sumexp(const Elem* x, int64_t n, float m) {
  vfloat acc[kSumUnroll] = {};
  const vfloat vm = splat(m);
  int64_t i = 0;
  for (; i + kSumUnroll * kLanes <= n; i += kSumUnroll * kLanes) {
    for (int u = 0; u < kSumUnroll; ++u) acc[u] += exp_nonpositive(Loader<Elem>::vec(x + i + u * kLanes) - vm);
  }
  for (; i + kLanes <= n; i += kLanes) acc[0] += exp_nonpositive(Loader<Elem>::vec(x + i) - vm);
  if (i < n) {  // tail: pad with -inf, which contributes exactly 0
    vfloat tail = splat(-__builtin_inff());
    for (int l = 0; i + l < n; ++l) tail[l] = Loader<Elem>::one(x + i + l);
    acc[1 % kSumUnroll] += exp_nonpositive(tail - vm);
  }
  double s = 0.0;
  for (int u = 0; u < kSumUnroll; ++u) s += hsum(acc[u]);
  return s;
}

// (max, Σ) of x[begin, end) as a mergeable Partial, walking L1-sized blocks.
template <class Elem>
static inline Partial span_partial(const Elem* row, int64_t begin, int64_t end) {
  Partial p{-__builtin_inff(), 0.0, begin, begin, false};
  for (int64_t b = begin; b < end; b += kBlock) {
    int64_t n = end - b < kBlock ? end - b : kBlock;
    bool nan = false;
    float bm = block_max(row + b, n, &nan);
    p.nan |= nan;
    if (nan || !(bm > -__builtin_inff()) || bm == __builtin_inff()) {
      if (bm > p.max) {
        p.max = bm;
        p.best_begin = b;
        p.best_end = b + n;
      }
      continue;  // all -inf contributes nothing; NaN / +inf rows are reported, their sum is never used
    }
    double s = block_sumexp(row + b, n, bm);
    if (bm > p.max) {
      if (p.max > -__builtin_inff()) p.sum *= __builtin_exp(static_cast<double>(p.max) - bm);
      p.max = bm;
      p.best_begin = b;
      p.best_end = b + n;
      p.sum += s;
    } else {
      p.sum += s * __builtin_exp(static_cast<double>(bm) - p.max);
    }
  }
  return p;
}

// Merge spans left to right; the earliest span holding the max keeps the first-occurrence argmax.
static inline Partial merge_partials(const Partial* parts, int count) {
  Partial out = parts[0];
  for (int i = 1; i < count; ++i) {
    const Partial& p = parts[i];
    out.nan |= p.nan;
    if (p.max > out.max) {
      if (out.max > -__builtin_inff() && out.max < __builtin_inff())
        out.sum *= __builtin_exp(static_cast<double>(out.max) - p.max);
      out.max = p.max;
      out.best_begin = p.best_begin;
      out.best_end = p.best_end;
      out.sum += p.sum;
    } else if (p.max > -__builtin_inff() && out.max < __builtin_inff()) {
      out.sum += p.sum * __builtin_exp(static_cast<double>(p.max) - out.max);
    }
  }
  return out;
}

// Outputs of one row from its merged Partial: gather the K ids, argmax over them, first index of the max.
template <class Elem>
static inline void finish_row(const Problem& pb, const Elem* row, int64_t r, const Partial& p) {
  const bool finite = p.max > -__builtin_inff() && p.max < __builtin_inff() && !p.nan;
  const double lse = finite ? static_cast<double>(p.max) + __builtin_log(p.sum) : 0.0;
  pb.row_max[r] = p.nan ? __builtin_nanf("") : p.max;
  pb.has_nan[r] = p.nan ? 1 : 0;
  pb.lse[r] = static_cast<float>(lse);
  const int64_t* ids = pb.ids + r * pb.k;
  float* out = pb.logprobs + r * pb.k;
  int64_t best_k = -1;
  float best = 0.0f;
  for (int64_t j = 0; j < pb.k; ++j) {
    const int64_t id = ids[j];
    if (id < 0) {
      out[j] = -__builtin_inff();
      continue;
    }
    const float lp = static_cast<float>(static_cast<double>(Loader<Elem>::one(row + id)) - lse);
    out[j] = lp;
    if (best_k < 0 || lp > best) {
      best = lp;
      best_k = j;
    }
  }
  pb.argmax[r] = best_k;
  int64_t top = -1;
  if (finite) {
    for (int64_t v = p.best_begin; v < p.best_end; ++v) {
      if (Loader<Elem>::one(row + v) == p.max) {
        top = v;
        break;
      }
    }
  }
  pb.top_token[r] = top;
}

static inline int available_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// The whole batch. `threads` <= 0 means all OpenMP threads; `scratch` holds rows * splits Partials.
template <class Elem>
void constrained_rows(const Problem& pb, int threads) {
  const Elem* base = static_cast<const Elem*>(pb.logits);
  const int64_t rows = pb.rows, vocab = pb.vocab;
  int nt = threads > 0 ? threads : available_threads();
  const int64_t bytes = rows * vocab * static_cast<int64_t>(sizeof(Elem));
  if (bytes < (int64_t{1} << 17)) nt = 1;  // below ~128 KiB a thread hand-off costs more than it saves
  // Split rows into spans only when there are too few rows to feed every thread; spans are whole blocks.
  int64_t splits = 1;
  if (rows < nt) {
    const int64_t want = (nt + rows - 1) / rows;
    const int64_t blocks = (vocab + kBlock - 1) / kBlock;
    splits = want < blocks ? want : blocks;
    if (splits < 1) splits = 1;
  }
  if (splits == 1) {
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const Elem* row = base + r * pb.row_stride;
      Partial p = span_partial(row, 0, vocab);
      finish_row(pb, row, r, p);
    }
    return;
  }
  const int64_t blocks = (vocab + kBlock - 1) / kBlock;
  const int64_t items = rows * splits;
  Partial stack_parts[64];
  Partial* parts = items <= 64 ? stack_parts : new Partial[items];
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t r = it / splits, s = it % splits;
    const int64_t b0 = blocks * s / splits, b1 = blocks * (s + 1) / splits;
    const int64_t begin = b0 * kBlock, end = b1 * kBlock < vocab ? b1 * kBlock : vocab;
    parts[it] = span_partial(base + r * pb.row_stride, begin, end);
  }
  for (int64_t r = 0; r < rows; ++r) {
    Partial p = merge_partials(parts + r * splits, static_cast<int>(splits));
    finish_row(pb, base + r * pb.row_stride, r, p);
  }
  if (parts != stack_parts) delete[] parts;
}

// Entry point of one instruction-set build: dispatches on the element type.
inline void run(const Problem& pb, int threads) {
  switch (pb.dtype) {
    case DType::f32:
      constrained_rows<float>(pb, threads);
      break;
    case DType::f16:
      constrained_rows<F16>(pb, threads);
      break;
    default:
      constrained_rows<Bf16>(pb, threads);
      break;
  }
}

}  // namespace MEDADAPT_DECODING_ISA
}  // namespace medadapt_decoding
