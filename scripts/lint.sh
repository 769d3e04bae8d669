#!/usr/bin/env bash
# ruff and mypy over the packages, as CI runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check model api service training cli tests bench
# model/ is held to `mypy --strict` by its override in pyproject.toml's [tool.mypy]; the rest to mypy's defaults.
.venv/bin/mypy model api service training cli
