#!/usr/bin/env bash
# Create .venv at the repository root and install sift with pinned versions.
# Safe to run again: it reinstalls only when pyproject.toml or requirements.lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)'; then
  echo "sift needs Python 3.11 or 3.12; $PYTHON is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating virtual environment in .venv"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.sift-install-stamp
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "installing sift and its pinned dependencies into .venv (first run: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first, pinned, so nothing later pulls a multi-GB CUDA build. TORCH_INDEX_URL lets the
  # Docker image take the CPU wheel from PyTorch's own index; here pip finds the CPU wheel on disk.
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    .venv/bin/python -m pip install --quiet "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
  else
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
  fi
  .venv/bin/python -m pip install --quiet -c requirements.lock -e ".[dev]"
  echo "$want" > "$stamp"
fi

# The npm client the Perspective tests drive (tests/api/test_perspective_clients.py), pinned by its lock file.
# Without npm the step is skipped and so is that test (CI sets SIFT_REQUIRE_NODE=1, which fails it instead).
js=tests/clients/perspective-js
js_stamp=$js/node_modules/.sift-install-stamp
if command -v npm >/dev/null 2>&1; then
  js_want=$(cat "$js/package.json" "$js/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$js_stamp" 2>/dev/null || true)" != "$js_want" ]; then
    echo "installing the npm packages of $js"
    # Not fatal: the service does not need it (serve.sh runs this script too); the test then says why it skipped.
    if (cd "$js" && npm ci --no-audit --no-fund --loglevel=error); then
      echo "$js_want" > "$js_stamp"
    else
      echo "npm ci failed in $js: the npm Perspective client test will be skipped" >&2
    fi
  fi
else
  echo "npm not found: the npm Perspective client test will be skipped (apt-get install nodejs npm to run it)"
fi
