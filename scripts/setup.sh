#!/usr/bin/env bash
# Creates .venv (once) and installs the package with every extra. The pinned CPU torch goes in
# first so that the bare `torch` requirement is already met and pip does not pull CUDA wheels.
# Override with TORCH_SPEC, e.g. TORCH_SPEC="torch==2.13.0" or TORCH_SPEC="torch" on a GPU box.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,benchmarks,dashboard,monai]"
