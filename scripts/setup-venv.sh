#!/usr/bin/env bash
# Makes .venv with the pinned packages the workers need (workers/requirements.txt), from PyPI.
# Re-running is cheap: pip skips what is already installed at the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r workers/requirements.txt
.venv/bin/python - <<'PY'
import jax, numpy, onnxruntime, torch, triton
print(f"worker venv ready: torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
      f"jax {jax.__version__}, triton {triton.__version__}, numpy {numpy.__version__}")
PY
