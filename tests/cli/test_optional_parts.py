"""A command that needs a part this install left out says what to install, and exits 2."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.mark.parametrize(("missing", "command", "extra"), [
    ("dask.distributed", ["batch", "--input", "{input}", "--output", "{output}"], "batch"),
    ("sklearn", ["review", "suggest", "--input", "{input}"], "train"),
])
def test_a_missing_optional_part_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str,
                                                 command: list[str], extra: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "Lift broken again"}) + "\n", encoding="utf-8")
    real = importlib.import_module

    def without(name: str, package: str | None = None):  # type: ignore[no-untyped-def]
        if name == missing:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without)
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path / "state"))
    args = [a.format(input=source, output=tmp_path / "out.jsonl") for a in command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"pip install 'sift[{extra}]'" in result.output
    assert not (tmp_path / "out.jsonl").exists()
