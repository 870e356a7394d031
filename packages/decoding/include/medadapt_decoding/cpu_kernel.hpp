// CPU kernel: full-vocabulary log-sum-exp fused with the gather of K allowed ids, one DRAM read per row.
//
// Each row is walked in L1-sized blocks: a max pass over the block (loaded from DRAM), then an exp-sum pass over
// the same block while it is still in L1 (prefetching the next block meanwhile); the blocks' (max, Σ) pairs are
// merged by rescaling. Rows are spread over threads; when there are fewer rows than threads each row is cut into
// spans whose (max, Σ) pairs are merged the same way (split-vocab). The exp is a polynomial on x - max <= 0
// written with GCC vector extensions, so the same code becomes SSE2, AVX2 or AVX-512 according to the flags of
// the translation unit that includes this header. Every definition lives in the namespace named by
// MEDADAPT_DECODING_ISA, so the copies compiled for different instruction sets never merge at link time.
#pragma once

#include <cstdint>

#include "parallel.hpp"
#include "problem.hpp"

#ifndef MEDADAPT_DECODING_ISA
#define MEDADAPT_DECODING_ISA generic
#endif
#ifndef MEDADAPT_DECODING_LANES
#define MEDADAPT_DECODING_LANES 4
#endif

namespace medadapt_decoding {
namespace MEDADAPT_DECODING_ISA {

constexpr int kLanes = MEDADAPT_DECODING_LANES;
// 4096 elements: 16 KiB of fp32 stays in L1 between the max and the exp pass.
constexpr int64_t kBlock = 4096;

typedef float vfloat __attribute__((vector_size(kLanes * 4)));
typedef int32_t vint __attribute__((vector_size(kLanes * 4)));
typedef uint32_t vuint __attribute__((vector_size(kLanes * 4)));
typedef uint16_t vhalf __attribute__((vector_size(kLanes * 2)));
typedef double vdouble __attribute__((vector_size(kLanes * 8)));

static inline float scalar_bits_to_float(uint32_t bits) {
  float out;
  __builtin_memcpy(&out, &bits, sizeof out);
  return out;
}

// Elements widened to float: exact for bf16 (bits << 16) and fp16 (integer re-biasing, subnormals included).
// `pair` loads 2 * kLanes elements into two vectors in any lane order (the max and the sum do not care), which
// lets bf16 widen with one shift and one mask per 2 * kLanes elements.
template <class Elem>
struct Loader;

struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

template <>
struct Loader<float> {
  static inline void pair(const float* p, vfloat& a, vfloat& b) {
    __builtin_memcpy(&a, p, sizeof a);
    __builtin_memcpy(&b, p + kLanes, sizeof b);
  }
  static inline float one(const float* p) { return *p; }
};

template <>
struct Loader<Bf16> {
  static inline void pair(const Bf16* p, vfloat& a, vfloat& b) {
    vuint w;  // lane i holds elements 2i (low half) and 2i + 1 (high half)
    __builtin_memcpy(&w, p, sizeof w);
    a = (vfloat)(w << 16);
    b = (vfloat)(w & 0xffff0000u);
  }
  static inline float one(const Bf16* p) { return scalar_bits_to_float(static_cast<uint32_t>(p->bits) << 16); }
};

static inline vfloat f16_bits_to_vfloat(vuint h) {
  vuint sign = (h & 0x8000u) << 16;
  vuint em = h & 0x7fffu;
  vuint shifted = em << 13;
  vfloat f = (vfloat)(shifted) * 0x1p112f;
  vuint special = shifted | 0x7f800000u;
  vint is_special = (vint)(em) >= 0x7c00;
  vuint out = (is_special ? special : (vuint)(f)) | sign;
  return (vfloat)(out);
}

template <>
struct Loader<F16> {
  static inline void pair(const F16* p, vfloat& a, vfloat& b) {
    vuint w;
    __builtin_memcpy(&w, p, sizeof w);
    a = f16_bits_to_vfloat(w & 0xffffu);
    b = f16_bits_to_vfloat(w >> 16);
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

// exp(t) for t <= 0, clamped below at -87 (e^-87 = 1.6e-38: a -inf logit adds at most that, invisible next to the
// row max's exact 1). Range reduction t = n ln2 + r with |r| <= ln2/2, e^r by a degree-5 polynomial, times 2^n
// built from the integer bits. A NaN input stays NaN (the clamp keeps it and p * 2^n of a NaN p is NaN), which is
// how the sum pass detects NaN rows without a separate check. No -ffast-math needed.
//
// The polynomial is a relative-error minimax fit of e^r on [-ln2/2, ln2/2] with p(0) = 1 (9.1e-8 in exact
// arithmetic, 1.7e-7 evaluated in fp32, mean bias -2e-8); ln2 in one fp32 constant costs |n| * 3e-8 absolute in r,
// i.e. nothing for the terms near the row max that dominate the sum. Cost per vector: 8 multiply-adds, one
// max, one subtract, one shift — the loop is bound by these on AVX2, so each one saved shows.
static inline vfloat exp_nonpositive(vfloat t) {
  const vfloat floor = splat(-87.0f);
  t = floor > t ? floor : t;  // compare-select: a NaN t fails the compare and is kept
  // 1.5 * 2^23 + 127: adding it rounds t / ln2 to an integer n and leaves n + 127 (the biased exponent of 2^n,
  // in [1, 127] for t >= -87) in the low mantissa bits, so shifting those bits up by 23 gives 2^n itself
  const vfloat magic = splat(12583039.0f);
  vfloat k = t * 1.44269504088896341f + magic;
  vfloat n = k - magic;
  vfloat r = t - n * 0.693147180559945309f;
  vfloat p = splat(8.290314725683316e-3f);
  p = p * r + 4.189793004555917e-2f;
  p = p * r + 1.6667636199524782e-1f;
  p = p * r + 4.9999149525092523e-1f;
  p = p * r + 9.999997071868407e-1f;
  p = p * r + 1.0f;  // exactly 1 at r = 0, so the row max contributes exactly 1
  return p * (vfloat)((vint)(k) << 23);
}

static inline float hmax(vfloat v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

// Max of x[0, n), NaN ignored (a NaN never wins `x > m`). One compare-select per vector: NaNs are found by the
// sum pass, or by block_has_nan for the rare blocks that skip it.
template <class Elem>
static inline float block_max(const Elem* x, int64_t n) {
  const vfloat neg_inf = splat(-__builtin_inff());
  vfloat m0 = neg_inf, m1 = neg_inf, m2 = neg_inf, m3 = neg_inf;
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    vfloat a, b, c, d;
    Loader<Elem>::pair(x + i, a, b);
    Loader<Elem>::pair(x + i + 2 * kLanes, c, d);
    m0 = a > m0 ? a : m0;  // written as a compare-select so it vectorises without -ffinite-math-only
    m1 = b > m1 ? b : m1;
    m2 = c > m2 ? c : m2;
    m3 = d > m3 ? d : m3;
  }
  m0 = m1 > m0 ? m1 : m0;
  m2 = m3 > m2 ? m3 : m2;
  m0 = m2 > m0 ? m2 : m0;
  float best = hmax(m0);
  for (; i < n; ++i) {
    float v = Loader<Elem>::one(x + i);
    best = v > best ? v : best;
  }
  return best;
}

// Whether x[0, n) holds a NaN; only for blocks whose max is ±inf (no sum pass runs there to reveal one).
template <class Elem>
static inline bool block_has_nan(const Elem* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = Loader<Elem>::one(x + i);
    if (v != v) return true;
  }
  return false;
}

// Σ exp(x - m) over x[0, n), m finite; NaN if x holds a NaN. Each fp32 lane adds at most 64 terms before it is
// flushed into a double accumulator, so the summation error stays far below the exp's own (~1e-7) whatever the
// vocabulary size.
template <class Elem>
static inline double block_sumexp(const Elem* x, int64_t n, float m) {
  constexpr int kFlush = 32;  // iterations (of 2 * kLanes elements) between flushes
  vdouble total = {};
  const vfloat vm = splat(m);
  const int64_t steps = n / (2 * kLanes);
  int64_t i = 0;
  for (int64_t done = 0; done < steps;) {
    const int64_t group = steps - done < kFlush ? steps - done : kFlush;
    vfloat acc0 = {}, acc1 = {};
    for (int64_t it = 0; it < group; ++it, i += 2 * kLanes) {
      vfloat a, b;
      // Pull the next block towards L2 while this one is exp-bound, so the DRAM read overlaps the arithmetic
      // (a prefetch past the end of the buffer is harmless: it never faults).
      __builtin_prefetch(reinterpret_cast<const char*>(x + i + kBlock), 0, 2);
      Loader<Elem>::pair(x + i, a, b);
      acc0 += exp_nonpositive(a - vm);
      acc1 += exp_nonpositive(b - vm);
    }
    done += group;
    total += __builtin_convertvector(acc0 + acc1, vdouble);
  }
  vfloat acc = {};
  for (; i < n; i += kLanes) {  // tail: pad with -inf, which contributes (next to) nothing
    vfloat tail = splat(-__builtin_inff());
    for (int l = 0; l < kLanes && i + l < n; ++l) tail[l] = Loader<Elem>::one(x + i + l);
    acc += exp_nonpositive(tail - vm);
  }
  total += __builtin_convertvector(acc, vdouble);
  double s = 0.0;
  for (int l = 0; l < kLanes; ++l) s += total[l];
  return s;
}

// (max, Σ) of x[begin, end) as a mergeable Partial, walking L1-sized blocks.
template <class Elem>
static inline Partial span_partial(const Elem* row, int64_t begin, int64_t end) {
  Partial p{-__builtin_inff(), 0.0, begin, begin, false};
  for (int64_t b = begin; b < end; b += kBlock) {
    int64_t n = end - b < kBlock ? end - b : kBlock;
    float bm = block_max(row + b, n);
    if (!(bm > -__builtin_inff()) || bm == __builtin_inff()) {
      p.nan |= block_has_nan(row + b, n);
      if (bm > p.max) {
        p.max = bm;
        p.best_begin = b;
        p.best_end = b + n;
      }
      continue;  // all -inf (or NaN) contributes nothing; +inf rows are reported, their sum is never used
    }
    if (bm > p.max) {  // a new running max: rescale what was summed so far (rare after the first blocks)
      if (p.max > -__builtin_inff()) p.sum *= __builtin_exp(static_cast<double>(p.max) - bm);
      p.max = bm;
      p.best_begin = b;
      p.best_end = b + n;
    }
    // summing relative to the running max (not the block's) needs no per-block rescaling exp
    const double s = block_sumexp(row + b, n, p.max);
    if (s != s) {
      p.nan = true;
      continue;
    }
    p.sum += s;
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

template <class Elem>
struct RowJob {
  const Problem* pb;
  const Elem* base;
  int64_t rows_per_item;
};

template <class Elem>
static void row_item(void* ctx, int64_t item) {
  const auto& job = *static_cast<const RowJob<Elem>*>(ctx);
  const int64_t first = item * job.rows_per_item;
  const int64_t last = first + job.rows_per_item < job.pb->rows ? first + job.rows_per_item : job.pb->rows;
  for (int64_t r = first; r < last; ++r) {
    const Elem* row = job.base + r * job.pb->row_stride;
    finish_row(*job.pb, row, r, span_partial(row, 0, job.pb->vocab));
  }
}

template <class Elem>
struct SpanJob {
  const Problem* pb;
  const Elem* base;
  int64_t splits;
  int64_t blocks;
  Partial* parts;
};

template <class Elem>
static void span_item(void* ctx, int64_t item) {
  const auto& job = *static_cast<const SpanJob<Elem>*>(ctx);
  const int64_t r = item / job.splits, s = item % job.splits;
  const int64_t b0 = job.blocks * s / job.splits, b1 = job.blocks * (s + 1) / job.splits;
  const int64_t vocab = job.pb->vocab;
  const int64_t begin = b0 * kBlock, end = b1 * kBlock < vocab ? b1 * kBlock : vocab;
  job.parts[item] = span_partial(job.base + r * job.pb->row_stride, begin, end);
}

// The whole batch. `threads` <= 0: default_threads() (torch's thread count when borrowing its team, else all CPUs).
template <class Elem>
void constrained_rows(const Problem& pb, int threads) {
  const Elem* base = static_cast<const Elem*>(pb.logits);
  const int64_t rows = pb.rows, vocab = pb.vocab;
  if (rows <= 0 || vocab <= 0) return;
  int nt = threads > 0 ? threads : default_threads();
  const int64_t bytes = rows * vocab * static_cast<int64_t>(sizeof(Elem));
  if (bytes < (int64_t{1} << 17)) nt = 1;  // below ~128 KiB a thread hand-off costs more than it saves
  // Split rows into spans only when there are too few rows to feed every thread; spans are whole blocks.
  const int64_t blocks = (vocab + kBlock - 1) / kBlock;
  int64_t splits = 1;
  if (rows < nt) {
    const int64_t want = (nt + rows - 1) / rows;
    splits = want < blocks ? want : blocks;
    if (splits < 1) splits = 1;
  }
  if (splits == 1) {
    // items of whole rows, at least ~256 KiB each so that handing them out stays cheap
    const int64_t row_bytes = vocab * static_cast<int64_t>(sizeof(Elem));
    const int64_t per_item = row_bytes >= (int64_t{1} << 18) ? 1 : (int64_t{1} << 18) / row_bytes;
    RowJob<Elem> job{&pb, base, per_item};
    parallel_for((rows + per_item - 1) / per_item, nt, &row_item<Elem>, &job);
    return;
  }
  const int64_t items = rows * splits;
  Partial stack_parts[64];
  Partial* parts = items <= 64 ? stack_parts : new Partial[items];
  SpanJob<Elem> job{&pb, base, splits, blocks, parts};
  parallel_for(items, nt, &span_item<Elem>, &job);
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
