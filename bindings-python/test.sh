#!/usr/bin/env bash
# Python binding tests: builds the wheel with pip (maturin from PyPI),
# type-checks with mypy --strict and runs pytest. Idempotent; needs only
# Rust (cargo) and python3 with venv/pip.
#   SLICEPLANE_PY_DEBUG=1  faster debug build via `maturin develop`
#   PYTHON=python3.X       interpreter to use
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
py="${PYTHON:-python3}"
venv="$here/.venv"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
vpy="$venv/bin/python"
"$vpy" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-dev.txt"

if [ "${SLICEPLANE_PY_DEBUG:-0}" = "1" ]; then
    (cd "$here" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --quiet)
else
    # The real install path: pip builds the abi3 wheel with maturin (release).
    "$vpy" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$here"
fi

cd "$here"
echo "== mypy --strict"
"$vpy" -m mypy --strict tests "$repo/examples/python_operator.py"
echo "== stubtest (the stubs match the installed module)"
"$vpy" -m mypy.stubtest sliceplane
echo "== pytest"
"$vpy" -m pytest -q tests
