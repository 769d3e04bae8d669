"""The defaults shipped with sift: rule lists, the policy, the staff roster, the release model, the seed
and probe sets. In a checkout they are its ``data/`` folder; installed, the same files are the package
data ``sift_data`` (``pyproject.toml`` maps one onto the other). Nothing here depends on the current
directory."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final


def _root() -> Path:
    try:
        return Path(str(files("sift_data")))
    except ModuleNotFoundError:  # run from a checkout that was never installed
        return Path(__file__).resolve().parents[1] / "data"


SHIPPED_DIR: Final = _root()
RULES_DIR: Final = SHIPPED_DIR / "rules"
POLICY_FILE: Final = SHIPPED_DIR / "policy.yaml"
STAFF_ROSTER: Final = SHIPPED_DIR / "staff_roster.txt"
RELEASE_MODEL_DIR: Final = SHIPPED_DIR / "release"  # trained by training/configs/release.yaml
SEED_DIR: Final = SHIPPED_DIR / "seed"
PROBES_DIR: Final = SHIPPED_DIR / "probes"
