from __future__ import annotations

from pathlib import Path

import pytest

from model.pipeline import Pipeline
from model.rules.engine import RulesEngine
from model.rules.files import DEFAULT_RULES_DIR

REPO = Path(__file__).resolve().parents[1]
ROSTER = REPO / "data" / "staff_roster.txt"


@pytest.fixture(scope="session")
def rules_engine() -> RulesEngine:
    return RulesEngine.from_dir(DEFAULT_RULES_DIR, staff_roster=ROSTER)


@pytest.fixture(scope="session")
def pipeline(rules_engine: RulesEngine) -> Pipeline:
    return Pipeline(rules_engine)


# The log scan over the whole session (tests/logscan.py): its hooks, registered from the top conftest.
from tests.logscan import pytest_configure, pytest_sessionfinish, pytest_terminal_summary  # noqa: E402, F401
