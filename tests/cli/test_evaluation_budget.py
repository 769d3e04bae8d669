"""Evaluation runs the rules without their time budget (its figures must not depend on how busy the machine
is); everything else (serve, classify, batch) runs with the configured one."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.common import pipeline, settings


def test_offline_evaluation_has_no_rules_budget_and_the_service_path_has_the_configured_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIFT_RULES_BUDGET_MS", "40")
    cfg = settings()
    assert pipeline(cfg, model_dir=tmp_path / "none").rules_budget == 0.04
    assert pipeline(cfg, model_dir=tmp_path / "none", offline=True).rules_budget is None
