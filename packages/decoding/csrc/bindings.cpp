// pybind11 bindings: argument checks, conversion to the kernel's Problem, GIL release. No arithmetic here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>

#include "cpu/cpu_dispatch.hpp"
#include "dlpack_abi.hpp"
#include "medadapt_decoding/parallel.hpp"
#include "medadapt_decoding/problem.hpp"
#if MEDADAPT_DECODING_HAVE_CUDA
#include "cuda/cuda_launch.hpp"
#endif

namespace py = pybind11;
using medadapt_decoding::DType;
using medadapt_decoding::Problem;

namespace {

DType parse_kind(const std::string& kind) {
  if (kind == "float32") return DType::f32;
  if (kind == "float16") return DType::f16;
  if (kind == "bfloat16") return DType::bf16;
  throw py::type_error("logits: dtype must be float32, float16 or bfloat16, got " + kind);
}

using IdArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// allowed_ids must be [rows, K], K >= 1, each id in [-1, vocab), no row all -1: the kernel reads logits[id] blindly.
void check_ids(const IdArray& ids, int64_t rows, int64_t vocab) {
  if (ids.ndim() != 2) throw py::value_error("allowed_ids: expected a 2-D int array [B, K]");
  if (ids.shape(0) != rows)
    throw py::value_error("allowed_ids: has " + std::to_string(ids.shape(0)) + " rows but logits has " +
                          std::to_string(rows));
  const int64_t k = ids.shape(1);
  if (k == 0) throw py::value_error("allowed_ids: K is 0, every row needs at least one allowed id");
  const int64_t* p = ids.data();
  for (int64_t r = 0; r < rows; ++r) {
    bool any = false;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t id = p[r * k + j];
      if (id < -1 || id >= vocab)
        throw py::value_error("allowed_ids: id " + std::to_string(id) + " at [" + std::to_string(r) + ", " +
                              std::to_string(j) + "] is out of range for vocabulary size " + std::to_string(vocab) +
                              " (valid: 0..V-1, or -1 as padding)");
      any |= id >= 0;
    }
    if (!any) throw py::value_error("allowed_ids: row " + std::to_string(r) + " has no allowed id (all -1 padding)");
  }
}

struct Outputs {
  py::array_t<float> logprobs, lse, row_max;
  py::array_t<int64_t> argmax, top;
  py::array_t<bool> has_nan, valid;

  Outputs(int64_t rows, int64_t k)
      : logprobs({rows, k}), lse(rows), row_max(rows), argmax(rows), top(rows), has_nan(rows), valid(rows) {}

  void attach(Problem& pb) {
    pb.logprobs = logprobs.mutable_data();
    pb.lse = lse.mutable_data();
    pb.row_max = row_max.mutable_data();
    pb.argmax = argmax.mutable_data();
    pb.top_token = top.mutable_data();
    pb.has_nan = reinterpret_cast<uint8_t*>(has_nan.mutable_data());
  }

  // (logprobs, lse, argmax, top, row_max, has_nan, valid, all_valid): a row is valid when its log-sum-exp is finite
  py::tuple result() {
    const int64_t rows = lse.shape(0);
    const float* mx = row_max.data();
    const bool* nan = has_nan.data();
    bool* ok = valid.mutable_data();
    bool all = true;
    for (int64_t r = 0; r < rows; ++r) {
      ok[r] = !nan[r] && mx[r] > -std::numeric_limits<float>::infinity() &&
              mx[r] < std::numeric_limits<float>::infinity();
      all = all && ok[r];
    }
    return py::make_tuple(logprobs, lse, argmax, top, row_max, has_nan, valid, all);
  }
};

// "" picks the best build; otherwise the named build, if this processor can run it.
std::string checked_isa(const py::object& isa) {
  if (isa.is_none()) return "";
  const std::string chosen = isa.cast<std::string>();
  const std::string best = medadapt_decoding::cpu_isa();
  const bool ok = chosen == "baseline" || chosen == best || (chosen == "avx2" && best == "avx512");
  if (!ok) throw py::value_error("isa: " + chosen + " is not supported here (best: " + best + ")");
  return chosen;
}

// Checks the allowed ids against the problem's shape and points the problem at them.
void attach_ids(Problem& pb, const IdArray& ids) {
  check_ids(ids, pb.rows, pb.vocab);
  pb.ids = ids.data();
  pb.k = ids.shape(1);
}

// The CPU kernel, GIL released, on a problem whose logits live in host memory (numpy or a host DLPack tensor).
py::tuple run_on_host(Problem& pb, const IdArray& ids, int threads, const py::object& isa) {
  attach_ids(pb, ids);
  Outputs out(pb.rows, pb.k);
  out.attach(pb);
  const std::string forced = checked_isa(isa);
  {
    py::gil_scoped_release release;
    medadapt_decoding::run_cpu(pb, threads, forced.empty() ? nullptr : forced.c_str());
  }
  return out.result();
}

// numpy path: rows may be strided, the vocabulary axis must be contiguous.
py::tuple constrained_numpy(const py::array& logits, const std::string& kind, const IdArray& ids, int threads,
                            const py::object& isa) {
  Problem pb;
  pb.dtype = parse_kind(kind);
  const int64_t size = medadapt_decoding::dtype_size(pb.dtype);
  if (logits.ndim() != 2) throw py::value_error("logits: expected a 2-D [B, V] array");
  if (logits.itemsize() != size)
    throw py::type_error("logits: itemsize " + std::to_string(logits.itemsize()) + " does not match " + kind);
  pb.rows = logits.shape(0);
  pb.vocab = logits.shape(1);
  if (pb.vocab == 0) throw py::value_error("logits: vocabulary size V is 0");
  if (pb.rows > 0 && pb.vocab > 1 && logits.strides(1) != size)
    throw py::value_error("logits: the vocabulary (last) axis must be contiguous, stride is " +
                          std::to_string(logits.strides(1)) + " bytes; pass np.ascontiguousarray(logits)");
  if (pb.rows > 1 && (logits.strides(0) < 0 || logits.strides(0) % size != 0))
    throw py::value_error("logits: row stride " + std::to_string(logits.strides(0)) + " bytes is not supported");
  pb.row_stride = pb.rows > 1 ? logits.strides(0) / size : pb.vocab;
  pb.logits = logits.data();
  return run_on_host(pb, ids, threads, isa);
}

// Reads a legacy DLPack capsule into pb (data, dtype, shape, row stride); returns the managed tensor.
medadapt_decoding::dlpack::ManagedTensor* open_capsule(const py::capsule& capsule, Problem& pb) {
  namespace dl = medadapt_decoding::dlpack;
  if (std::string(capsule.name() ? capsule.name() : "") != "dltensor")
    throw py::value_error("logits: expected an unused 'dltensor' DLPack capsule");
  auto* managed = static_cast<dl::ManagedTensor*>(capsule.get_pointer());
  const dl::Tensor& t = managed->dl_tensor;
  if (t.ndim != 2) throw py::value_error("logits: expected a 2-D [B, V] tensor, got ndim " + std::to_string(t.ndim));
  if (t.dtype.lanes != 1) throw py::type_error("logits: vector dtypes (lanes != 1) are not supported");
  if (t.dtype.code == dl::kFloat && t.dtype.bits == 32) {
    pb.dtype = DType::f32;
  } else if (t.dtype.code == dl::kFloat && t.dtype.bits == 16) {
    pb.dtype = DType::f16;
  } else if (t.dtype.code == dl::kBfloat && t.dtype.bits == 16) {
    pb.dtype = DType::bf16;
  } else {
    throw py::type_error("logits: expected float32, float16 or bfloat16, got DLPack type code " +
                         std::to_string(t.dtype.code) + " with " + std::to_string(t.dtype.bits) + " bits");
  }
  pb.rows = t.shape[0];
  pb.vocab = t.shape[1];
  if (pb.vocab == 0) throw py::value_error("logits: vocabulary size V is 0");
  const int64_t col_stride = t.strides ? t.strides[1] : 1;
  const int64_t row_stride = t.strides ? t.strides[0] : pb.vocab;
  if (pb.rows > 0 && pb.vocab > 1 && col_stride != 1)
    throw py::value_error("logits: the vocabulary (last) axis must be contiguous, stride is " +
                          std::to_string(col_stride) + " elements; call .contiguous() first");
  if (pb.rows > 1 && row_stride < 0) throw py::value_error("logits: negative row stride is not supported");
  pb.row_stride = pb.rows > 1 ? row_stride : pb.vocab;
  pb.logits = static_cast<const char*>(t.data) + t.byte_offset;
  return managed;
}

// Marks the capsule consumed and releases the producer's tensor when we are done with it.
struct CapsuleGuard {
  py::capsule capsule;
  medadapt_decoding::dlpack::ManagedTensor* managed;
  ~CapsuleGuard() {
    PyCapsule_SetName(capsule.ptr(), "used_dltensor");
    if (managed && managed->deleter) managed->deleter(managed);
  }
};

py::tuple constrained_dlpack(const py::capsule& capsule, const IdArray& ids, int threads, const py::object& isa) {
  Problem pb;
  auto* managed = open_capsule(capsule, pb);
  CapsuleGuard guard{capsule, managed};
  const int32_t device = managed->dl_tensor.device.device_type;
  if (device != medadapt_decoding::dlpack::kCPU && device != medadapt_decoding::dlpack::kCUDAHost)
    throw py::value_error("logits: this DLPack tensor is not in host memory (device type " + std::to_string(device) +
                          ")");
  return run_on_host(pb, ids, threads, isa);
}

#if MEDADAPT_DECODING_HAVE_CUDA
py::tuple constrained_cuda(const py::capsule& capsule, const IdArray& ids, std::uintptr_t stream) {
  Problem pb;
  auto* managed = open_capsule(capsule, pb);
  CapsuleGuard guard{capsule, managed};
  const auto& dev = managed->dl_tensor.device;
  if (dev.device_type != medadapt_decoding::dlpack::kCUDA && dev.device_type != medadapt_decoding::dlpack::kCUDAManaged)
    throw py::value_error("logits: this DLPack tensor is not on a CUDA device (device type " +
                          std::to_string(dev.device_type) + ")");
  attach_ids(pb, ids);
  Outputs out(pb.rows, pb.k);
  out.attach(pb);
  std::string err;
  {
    py::gil_scoped_release release;
    err = medadapt_decoding::run_cuda(pb, dev.device_id, stream);
  }
  if (!err.empty()) throw std::runtime_error("constrained_logprobs (cuda): " + err);
  return out.result();
}
#endif

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled kernels of medadapt-decoding (use the medadapt.decoding Python API).";
  m.def("built_backends", [] {
#if MEDADAPT_DECODING_HAVE_CUDA
    return py::make_tuple("cpu", "cuda");
#else
    return py::make_tuple("cpu");
#endif
  });
  m.def("cpu_isa", &medadapt_decoding::cpu_isa, "The CPU kernel build chosen on this processor.");
  m.def("set_cpu_thread_pool", [](const std::string& choice) {
    if (choice == "auto") {
      medadapt_decoding::set_pool_choice(medadapt_decoding::PoolChoice::automatic);
    } else if (choice == "own") {
      medadapt_decoding::set_pool_choice(medadapt_decoding::PoolChoice::own);
    } else {
      throw py::value_error("thread pool: expected 'auto' or 'own', got '" + choice + "'");
    }
  });
  m.def("cpu_thread_pool", &medadapt_decoding::pool_in_use);
  m.def("cpu_default_threads", &medadapt_decoding::default_threads);
  m.def("constrained_logprobs", &constrained_numpy, py::arg("logits"), py::arg("kind"), py::arg("ids"),
        py::arg("threads") = -1, py::arg("isa") = py::none());
  m.def("constrained_logprobs_dlpack", &constrained_dlpack, py::arg("capsule"), py::arg("ids"),
        py::arg("threads") = -1, py::arg("isa") = py::none());
#if MEDADAPT_DECODING_HAVE_CUDA
  m.def("constrained_logprobs_cuda", &constrained_cuda, py::arg("capsule"), py::arg("ids"), py::arg("stream") = 0);
#endif
}
