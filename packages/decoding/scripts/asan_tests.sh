#!/usr/bin/env bash
# Runs tests/decoding against an AddressSanitizer build of the extension (CPU only), without touching the
# installed package: the ASan module is built in $BUILD and put first on the import path.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python}"
build="${BUILD:-/tmp/medadapt-decoding-asan}"
cmake -S "$here" -B "$build/cmake" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDADAPT_DECODING_ASAN=ON \
  -DMEDADAPT_DECODING_CUDA=OFF -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$python")" >/dev/null
cmake --build "$build/cmake" >/dev/null
rm -rf "$build/pkg" && mkdir -p "$build/pkg/medadapt"
cp -r "$here/src/medadapt/decoding" "$build/pkg/medadapt/"
cp "$build"/cmake/_core*.so "$build/pkg/medadapt/decoding/"
cat >"$build/run.py" <<PY
import sys
# drop scikit-build-core's editable redirect so that the ASan copy is the one imported
sys.meta_path = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]
sys.path.insert(0, "$build/pkg")
import medadapt.decoding as dec
print("extension:", dec._native._core.__file__, file=sys.stderr)
import pytest
sys.exit(pytest.main(sys.argv[1:]))
PY
cd "$repo"
# libstdc++ is preloaded too: ASan's __cxa_throw interceptor needs it loaded before the extension
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" \
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
  "$python" "$build/run.py" tests/decoding -q -p no:cacheprovider "$@"
