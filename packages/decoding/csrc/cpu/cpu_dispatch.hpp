// Declarations of the CPU entry points (implemented per instruction set, chosen in dispatch.cpp).
#pragma once

#include "medadapt_decoding/problem.hpp"

namespace medadapt_decoding {

// "avx512", "avx2" or "baseline": the build run_cpu picks on this processor.
const char* cpu_isa();
// Runs the batch; isa = nullptr picks the best supported build, else forces one (tests use this).
void run_cpu(const Problem& pb, int threads, const char* isa = nullptr);

}  // namespace medadapt_decoding
