// Scalar element widening shared by the CPU finalisation step and tests; exact for every input.
#pragma once

#include <cstdint>
#include <cstring>

#include "problem.hpp"

namespace medadapt_decoding {

inline float bf16_to_float(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float out;
  std::memcpy(&out, &wide, sizeof out);
  return out;
}

inline float f16_to_float(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t em = bits & 0x7fffu;
  uint32_t out_bits;
  if (em >= 0x7c00u) {  // inf / NaN
    out_bits = sign | 0x7f800000u | ((em & 0x3ffu) << 13);
  } else {
    // (em << 13) read as a float is the value times 2^-112; the multiply also normalises subnormals.
    uint32_t shifted = em << 13;
    float f;
    std::memcpy(&f, &shifted, sizeof f);
    f *= 0x1p112f;
    std::memcpy(&out_bits, &f, sizeof f);
    out_bits |= sign;
  }
  float out;
  std::memcpy(&out, &out_bits, sizeof out);
  return out;
}

inline float load_scalar(const void* base, DType dtype, int64_t index) {
  switch (dtype) {
    case DType::f32:
      return static_cast<const float*>(base)[index];
    case DType::f16:
      return f16_to_float(static_cast<const uint16_t*>(base)[index]);
    default:
      return bf16_to_float(static_cast<const uint16_t*>(base)[index]);
  }
}

}  // namespace medadapt_decoding
