"""The data team's commands end to end: split, import, train (tiny), evaluate, models, notebook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SIFT_SECRET_KEY", "t")
    monkeypatch.chdir(REPO)
    return tmp_path


@pytest.mark.slow  # `sift train`
def test_train_registers_and_promotes_the_first_model_then_evaluate_writes_a_report(env: Path, tiny_model: Path,
                                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.settings.RELEASE_MODEL_DIR", env / "no-release")  # a checkout without a shipped model
    runner = CliRunner()
    config = env / "tiny.yaml"
    config.write_text(yaml.safe_dump({"base_model": "tiny-random", "epochs": 1, "train_limit": 64, "batch_size": 32,
                                      "max_length": 24}), encoding="utf-8")
    trained = runner.invoke(app, ["train", "--config", str(config)])
    assert trained.exit_code == 0, trained.output
    version = next(p.name for p in (env / "var" / "models").iterdir() if p.is_dir() and not p.is_symlink())
    assert f"{version} is now the current model" in trained.output
    current = runner.invoke(app, ["models", "current"])
    assert current.exit_code == 0 and current.output.strip() == version

    split = runner.invoke(app, ["data", "split", "--output", str(env / "splits")])
    assert split.exit_code == 0, split.output
    out = env / "report"
    evaluated = runner.invoke(app, ["evaluate", "--data", str(env / "splits" / "dev.jsonl"), "--model", str(tiny_model),
                                    "--out", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "macro-F1" in evaluated.output and "rules only" in evaluated.output and "alt-profanity-check" in evaluated.output
    assert "review rate" in evaluated.output and "precision outside review" in evaluated.output
    summary = json.loads((out / "evaluation.json").read_text())
    assert {"sift tiny-1", "rules only", "alt-profanity-check"} <= set(summary["systems"])
    assert set(summary["systems"]["sift tiny-1"]["labels"]) >= {"query", "abusive", "pii", "spam", "staff_named"}
    html = (out / "report.html").read_text()
    for title in ["Precision-recall curves", "Reliability diagrams", "Confusion between labels", "Scores by channel"]:
        assert title in html
    assert html.count("data:image/png;base64,") == 4


@pytest.mark.slow  # `sift train`
def test_with_a_shipped_release_training_does_not_replace_it_until_promoted(env: Path, tiny_model: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import Settings

    monkeypatch.setattr("service.settings.RELEASE_MODEL_DIR", tiny_model)
    settings = Settings(data_dir=env / "var", secret_key="t")
    assert settings.effective_model_dir == tiny_model  # nothing promoted: the release is served
    config = env / "tiny.yaml"
    config.write_text(yaml.safe_dump({"base_model": "tiny-random", "epochs": 1, "train_limit": 64, "batch_size": 32,
                                      "max_length": 24}), encoding="utf-8")
    trained = CliRunner().invoke(app, ["train", "--config", str(config)])
    assert trained.exit_code == 0, trained.output
    assert "is now the current model" not in trained.output and "sift models compare" in trained.output
    assert CliRunner().invoke(app, ["models", "current"]).exit_code == 1
    version = next(p.name for p in (env / "var" / "models").iterdir() if p.is_dir())
    forced = CliRunner().invoke(app, ["models", "promote", version, "--force"])
    assert forced.exit_code == 0, forced.output
    assert settings.effective_model_dir == env / "var" / "models" / "current"  # the data team's model takes precedence


def test_train_refuses_a_bad_config_naming_the_field(env: Path) -> None:
    config = env / "bad.yaml"
    config.write_text("epochs: 0\nbatch_size: lots\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2
    assert "epochs" in result.output and "batch_size" in result.output


def test_data_import_writes_rows_with_source_and_licence(env: Path) -> None:
    src = env / "sms"
    src.mkdir()
    (src / "SMSSpamCollection").write_text("ham\tsee you at 5\nspam\tWIN a prize now\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["data", "import", "sms_spam", "--from", str(src)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (env / "var" / "imports" / "sms_spam.jsonl").read_text().splitlines()]
    assert rows[1] == {"text": "WIN a prize now", "labels": [], "flags": ["spam"], "channel": None, "source": "sms_spam",
                       "licence": "CC BY 4.0", "annotated": ["spam"]}
    missing = CliRunner().invoke(app, ["data", "import", "sms_spam", "--from", str(env / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


@pytest.mark.slow  # starts a Jupyter kernel and runs the notebook
def test_error_analysis_notebook_runs_top_to_bottom(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("SIFT_NB_MODEL_DIR", str(tiny_model))
    monkeypatch.setenv("SIFT_NB_SEED", str(REPO / "data" / "seed"))
    notebook = nbformat.read(REPO / "notebooks" / "error_analysis.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "label errors" in outputs and "review rate" in outputs
    # The model given, loaded (the directory alone is also named when it fails to load).
    assert f"model tiny-1 loaded from {tiny_model}" in outputs


def test_a_small_model_trained_on_a_slice_beats_chance_by_a_clear_margin(tiny_model: Path) -> None:
    meta = json.loads((tiny_model / "sift_model.json").read_text())
    dev = meta["metrics"]["seed-dev"]
    # Chance: a coin that says "yes" as often as each label occurs scores F1 = prevalence on that label.
    chance = sum(m["support"] / m["rows"] for m in dev["labels"].values()) / len(dev["labels"])
    assert dev["macro_f1"] >= chance + 0.25, (dev["macro_f1"], chance)
