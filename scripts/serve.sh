#!/usr/bin/env bash
# Set up (if needed) and start sift on 127.0.0.1:8000 with the embedded defaults:
# SQLite under ./var, the rules, and the current learnt model. When no model exists yet,
# the default model is trained from the shipped seed data first (about 5-10 minutes on
# two cores, with progress bars); nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! .venv/bin/sift models current >/dev/null 2>&1; then
  echo "no learnt model yet: training the default model from data/seed (one time)"
  .venv/bin/sift train
fi
exec .venv/bin/sift serve --host "${SIFT_HOST:-127.0.0.1}" --port "${SIFT_PORT:-8000}"
