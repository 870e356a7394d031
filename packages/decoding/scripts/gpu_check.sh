#!/usr/bin/env bash
# The device check for a machine with a CUDA GPU (python3 with a CUDA torch, nvcc, cmake, pybind11,
# scikit-build-core, pytest, hypothesis, tokenizers installed): build with CUDA required, run the decoding tests
# (CUDA cases included) and the GPU benchmark. Run from the repository root; output under ${OUT:-/tmp/gpu-check}.
set -uo pipefail
out="${OUT:-/tmp/gpu-check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
export PYTHONUNBUFFERED=1
MEDADAPT_DECODING_CUDA=ON python3 -m pip install -q --no-deps --no-build-isolation --target /tmp/md-site \
  packages/decoding 2>&1 | tail -20 | tee "$out/build.log"
export PYTHONPATH=/tmp/md-site${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import medadapt.decoding as d; print('backends', d.backends())" | tee -a "$out/build.log"
python3 -m pytest tests/decoding -q -p no:cacheprovider -k "cuda or not cpu" 2>&1 | tail -30 | tee "$out/tests.log"
python3 bench/decoding.py --devices cuda 2>&1 | tee "$out/bench.md"
