// Host-side entry of the CUDA kernel (implemented in kernel.cu when CUDA is built).
#pragma once

#include <cstdint>
#include <string>

#include "medadapt_decoding/problem.hpp"

namespace medadapt_decoding {

// pb.logits is a device pointer; pb.ids and every output are host pointers. Runs on `stream` (0 = default) of
// `device` and returns "" on success, else the CUDA error text.
std::string run_cuda(const Problem& pb, int device, std::uintptr_t stream);

}  // namespace medadapt_decoding
