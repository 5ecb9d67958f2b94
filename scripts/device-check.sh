#!/bin/sh
# Device check for a GPU machine with Python, PyTorch and CUDA (no Node, no network needed): measures the
# GFPGAN v1.4-sized stand-in in PyTorch, fp32 and fp16, at batch 1, 4, 8 and 16 (faces/s, peak GPU memory) and prints
# the vCPUs per GPU that keep it fed. Copy the repository's scripts/ folder there (or the checkout) and run:
#   scripts/device-check.sh [--cpu-ms-per-face MS] [--json out.json]
# Without a GPU it runs on CPU with small iteration counts (--device cpu), which checks the script, not the sizing.
# PYTHON overrides the interpreter (default: python3 on PATH, else /usr/bin/python3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3 /usr/bin/python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import torch' >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
if [ -z "$python" ]; then
  echo "device-check: no Python with PyTorch found: install PyTorch (with CUDA for a GPU), or set PYTHON to an interpreter that has it" >&2
  exit 3
fi
exec "$python" "$here/stand-in/device_check.py" "$@"
