#!/usr/bin/env bash
# Create .venv and install the project. Usage: scripts/setup.sh [default|dev]
#   default: what the product needs (no torch, no compiler)
#   dev:     everything the tests need, including the optional backends they exercise,
#            and the [bench] extra (`python -m bench`: the LangChain baseline, matplotlib)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-default}"
PY="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install --quiet --upgrade "pip>=24"

if [ "$profile" = "dev" ]; then
  # CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
  echo "==> Installing torch (CPU) for the sentence-transformers backend"
  "$VPY" -m pip install --quiet "torch==2.13.0"
  # llama-cpp-python compiles from source; these flags avoid a crash in the native
  # build on these CPUs (AMX/AVX512). The built wheel is cached by pip.
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF}"
  echo "==> Installing the project with [dev] (first run compiles llama-cpp-python, ~4 min)"
  "$VPY" -m pip install --quiet -e ".[dev]"
else
  echo "==> Installing the project"
  "$VPY" -m pip install --quiet -e .
fi
echo "==> Ready: $(.venv/bin/assistant --help >/dev/null && echo 'assistant command installed')"
