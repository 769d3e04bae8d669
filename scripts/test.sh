#!/usr/bin/env bash
# Set up (if needed) and run the default test suite (hermetic, a few minutes at most).
# PostgreSQL tests run when SIFT_TEST_POSTGRES_URL is set (CI sets it); pass pytest arguments through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
