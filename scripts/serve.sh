#!/usr/bin/env bash
# Set up (if needed) and start sift on 127.0.0.1:8000 with the embedded defaults: SQLite under
# ./var, the rules, and the model: the data team's promoted one (var/models/current) if there is
# one, else the release model shipped in data/release. Nothing is trained or downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/sift serve --host "${SIFT_HOST:-127.0.0.1}" --port "${SIFT_PORT:-8000}"
