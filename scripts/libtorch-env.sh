# Sourced by ./pz: finds or installs libtorch 2.11.0 and exports what the build needs.
#
# Order of preference (a user's own set-up wins):
#   1. LIBTORCH=/path/to/libtorch (an unpacked libtorch zip) — used as is.
#   2. An active virtualenv (VIRTUAL_ENV) whose python has torch 2.11.0.
#   3. The repo's ignored .venv, created with PyPI torch==2.11.0 when missing (~4.6 GB, ~2 min).
# Exports LIBTORCH or LIBTORCH_USE_PYTORCH=1 (torch-sys reads them), PATH (so torch-sys finds
# that python) and LD_LIBRARY_PATH (for test binaries; the phasezoo binary itself has an rpath).

PZ_TORCH_VERSION=2.11.0
pz_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

pz_has_torch() { # python → prints torch lib dir when torch $PZ_TORCH_VERSION is importable
  "$1" - <<PY 2>/dev/null
import os, torch
assert torch.__version__.split("+")[0] == "$PZ_TORCH_VERSION", torch.__version__
print(os.path.join(os.path.dirname(torch.__file__), "lib"))
PY
}

if [ -n "${LIBTORCH:-}" ]; then
  if [ ! -d "$LIBTORCH/lib" ]; then
    echo "error: LIBTORCH=$LIBTORCH has no lib/ folder" >&2
    echo "hint: point LIBTORCH at an unpacked libtorch $PZ_TORCH_VERSION, or unset it to use a venv" >&2
    return 1
  fi
  pz_torch_lib="$LIBTORCH/lib"
else
  pz_python=""
  if [ -n "${VIRTUAL_ENV:-}" ] && pz_torch_lib=$(pz_has_torch "$VIRTUAL_ENV/bin/python"); then
    pz_python="$VIRTUAL_ENV/bin/python"
  elif pz_torch_lib=$(pz_has_torch "$pz_root/.venv/bin/python"); then
    pz_python="$pz_root/.venv/bin/python"
  else
    echo "phasezoo: installing libtorch (PyPI torch==$PZ_TORCH_VERSION) into $pz_root/.venv ..." >&2
    python3 -m venv "$pz_root/.venv" || {
      echo "error: cannot create $pz_root/.venv" >&2
      echo "hint: install Debian's python3-venv (apt-get install python3-venv), or set LIBTORCH" >&2
      return 1
    }
    "$pz_root/.venv/bin/python" -m pip install --quiet "torch==$PZ_TORCH_VERSION" || {
      echo "error: pip could not install torch==$PZ_TORCH_VERSION into $pz_root/.venv" >&2
      return 1
    }
    pz_torch_lib=$(pz_has_torch "$pz_root/.venv/bin/python") || return 1
    pz_python="$pz_root/.venv/bin/python"
  fi
  export LIBTORCH_USE_PYTORCH=1
  export PATH="$(dirname "$pz_python"):$PATH"
  export PZ_PYTHON="$pz_python"
fi
export LD_LIBRARY_PATH="$pz_torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
