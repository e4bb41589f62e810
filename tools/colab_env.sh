#!/usr/bin/env bash
# The Colab-like environment, and the tests that must hold in it (`make test-colab`; CI runs it
# after `make test`). It is Python 3.13 holding Colab's own versions of torch, torchvision, numpy,
# ipywidgets 7, ipykernel, IPython 7, transformers, opencv, scipy, pillow, imageio-ffmpeg, the
# classic Notebook and the rest of tools/colab/versions.py's BASE, all read from Colab's published
# package list (tools/colab/pip-freeze.gpu.txt). pytti-nb then goes in by the notebook's own
# install line, as on Colab, and nothing Colab ships may change. Then the tests run there: the
# engine, the command line, animation, the studio's kernel side on ipykernel 6.17's loop, Colab's
# own branches of the notebook, the classic Notebook in headless Chromium, and every test whose
# outcome rests on floating point, on torch's plain CPU kernels.
#
# Set COLAB_VENV to keep the environment elsewhere (it is reused while its inputs are unchanged),
# and PYTHON313 to name the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${COLAB_VENV:-.venv-colab}

find_python313() {
  if [ -n "${PYTHON313:-}" ]; then echo "$PYTHON313"; return; fi
  for candidate in python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys, venv' 2>/dev/null; then
      command -v "$candidate"
      return
    fi
  done
  echo "no Python 3.13 found (Colab runs 3.13): install it, or set PYTHON313 to its path" >&2
  exit 1
}

# Bytecode is cached on first import (as on Colab); some shells switch that off.
unset PYTHONDONTWRITEBYTECODE
PY=$(find_python313)
STAMP="$VENV/.colab-ready"
INPUTS=(tools/colab/pip-freeze.gpu.txt tools/colab/versions.py tools/colab_env.sh requirements.txt pyproject.toml)

if [ ! -f "$STAMP" ] || [ -n "$(find "${INPUTS[@]}" -newer "$STAMP" 2>/dev/null)" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" tools/colab/versions.py constraints > "$VENV/colab-constraints.txt"
  PIP=("$VENV/bin/python" -m pip install --quiet -c "$VENV/colab-constraints.txt")
  # Colab's packages at Colab's versions (pip first: Colab's pip runs the setup cell's install).
  "${PIP[@]}" pip
  read -r -a BASE <<< "$("$VENV/bin/python" tools/colab/versions.py base)"
  "${PIP[@]}" "${BASE[@]}"
  # Test tools Colab lacks; the constraints hold every Colab package where it is.
  "${PIP[@]}" "hypothesis>=6.100" "pytest-xdist>=3.5" "playwright>=1.50,<2"
  # ipyevents' wheel enables its classic-Notebook extension without installing its files (Colab
  # fetches widget code from a CDN instead): put them where the classic Notebook looks.
  "$VENV/bin/jupyter" nbextension install --py --sys-prefix ipyevents >/dev/null 2>&1
  "$VENV/bin/python" -m pip freeze --all > "$VENV/colab-before.txt"
  touch "$STAMP"
fi

export PYTTI_COLAB_ENV=1
PYTEST=("$VENV/bin/python" -m pytest -q -p no:cacheprovider)

# Back to Colab's own package set (an earlier run's pytti-nb and what it added are taken out),
# then the setup cell's install line resolved against Colab's versions (pip's dry run).
read -r -a ADDED <<< "$("$VENV/bin/python" tools/colab/versions.py added "$VENV/colab-before.txt" \
  <("$VENV/bin/python" -m pip freeze --all))"
if [ ${#ADDED[@]} -gt 0 ]; then
  "$VENV/bin/python" -m pip uninstall --quiet --yes "${ADDED[@]}"
fi
"${PYTEST[@]}" tests/colab

# pytti-nb by the setup cell's own line (PACKAGE_SOURCE: this checkout); nothing Colab has may move.
"$VENV/bin/python" -m pip install --quiet "pytti-nb[notebook] @ file://$REPO"
"$VENV/bin/python" -m pip freeze --all > "$VENV/colab-after.txt"
"$VENV/bin/python" tools/colab/versions.py changed "$VENV/colab-before.txt" "$VENV/colab-after.txt"

# On Colab's stack, and on torch's plain kernels (ATEN_CPU_CAPABILITY=default: a second set of
# CPU kernels besides the native one `make test` uses): the engine, the command line, animation,
# the studio's kernel side, Colab's branches of the notebook, the classic Notebook in a browser
# (marked colab_stack or colab_env), and every test whose outcome rests on floating point
# (marked numerics).
export ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-default}
exec "${PYTEST[@]}" -n 2 --dist loadfile -m "colab_stack or colab_env or numerics" \
  --ignore=tests/colab "$@" tests
