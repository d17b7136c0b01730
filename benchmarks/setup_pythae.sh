#!/usr/bin/env bash
# Create (idempotently) the virtual environment benchmarks/.venv-pythae: pythae from PyPI beside the same CPU
# torch as vaekit's own venv (torch==2.13.0), at the versions pinned in benchmarks/pythae-requirements.txt.
# Arm (b) of train_speed.py and the pythae part of eval_speed.py run with this venv's python.
#
#   bash benchmarks/setup_pythae.sh                      # create, or complete, the venv
#   PYTHON=python3.11 bash benchmarks/setup_pythae.sh    # choose the interpreter
#   VAEKIT_PYTHAE_VENV=/tmp/v bash benchmarks/setup_pythae.sh   # elsewhere (the scripts expect the default)
#
# torch is also passed as a constraint, so nothing pythae requires (torch>=1.10.1) can pull another build
# (e.g. a multi-GB CUDA one); torchvision is never installed and the script fails if it appears.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VAEKIT_PYTHAE_VENV:-$HERE/.venv-pythae}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="$HERE/pythae-requirements.txt"

ready() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.util, sys
from importlib.metadata import version
ok = (version("torch").split("+")[0] == "2.13.0" and version("pythae") == "0.1.2"
      and importlib.util.find_spec("torchvision") is None)
import pythae.models, pythae.pipelines  # noqa: F401  (imports work beside this torch and pydantic)
sys.exit(0 if ok else 1)
PY
}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if ready; then
    echo "pythae venv ready: $VENV"
else
    CONSTRAINTS="$(mktemp)"
    trap 'rm -f "$CONSTRAINTS"' EXIT
    echo "torch==2.13.0" > "$CONSTRAINTS"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    PIP_CONSTRAINT="$CONSTRAINTS" "$VENV/bin/python" -m pip install --quiet torch==2.13.0
    PIP_CONSTRAINT="$CONSTRAINTS" "$VENV/bin/python" -m pip install --quiet -r "$REQUIREMENTS"
    if ! ready; then
        echo "error: $VENV is not as expected (torch 2.13.0, pythae 0.1.2, no torchvision)" >&2
        exit 1
    fi
    echo "pythae venv created: $VENV"
fi
"$VENV/bin/python" -c 'import sys, torch; from importlib.metadata import version as v
print("python", sys.version.split()[0], "| torch", torch.__version__, "| pythae", v("pythae"),
      "| numpy", v("numpy"), "| pydantic", v("pydantic"))'
