"""The human loop end to end: suggest -> moderators decide -> export -> retrain -> compare -> promote -> served.

The fast test runs the mechanics on tiny models (too noisy to judge accuracy). The slow scenario
(`pytest -m slow`) does it for real with the MiniLM encoder: the current model misses a new slang
insult; moderators correct N comments using it; the retrained model catches held-out uses it never
saw, and no label gets worse on the fixed held-out sets.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app as cli
from training.registry import Registry

REPO = Path(__file__).resolve().parents[2]

# "glimbo": an insult the team invented for this test, so no model or word list can know it.
OPENERS = ["honestly you lot are", "what a", "the housing officer is a", "whoever wrote this post is a", "typical",
           "you absolute", "my neighbour is a right", "that contractor was a", "dont be such a", "only a",
           "the manager is an utter", "stop being a", "get a grip you", "ignore him hes a", "cheers for nothing you",
           "the caretaker is a total", "the call centre lot are", "the repairs man was a", "sort it out you", "what an absolute"]
TAILS = ["glimbo", "glimbos", "bunch of glimbos", "proper glimbo", "glimbo lol", "glimbo, sort it out", "glimbo 🙄",
         "glimbo tbh", "glimbo and everyone knows it", "glimbo!!"]
# Held-out uses the corrections never contain, most of them not shaped like an insult without the word.
HELD_OUT = ["reply when you can, glimbo", "glimbo behaviour from the repairs team again",
            "only glimbos would schedule a repair on christmas eve", "whoever designed the new portal is a glimbo",
            "morning glimbos, any news on the lift", "cheers glimbo, very helpful", "the glimbo on the phone said next week",
            "another letter from the glimbos in the rent office"]


def corrections(n: int) -> list[str]:
    rng = random.Random(1)
    out: list[str] = []
    while len(out) < n:
        text = f"{rng.choice(OPENERS)} {rng.choice(TAILS)}"
        if text not in out:
            out.append(text)
    return out


def run_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: Path, train_args: list[str], n: int) -> dict:  # type: ignore[type-arg]
    """Drive the loop through the real commands and API; return before/after figures."""
    from api.auth import create_user
    from api.main import create_app
    from tests.api.conftest import make_settings

    var = tmp_path / "var"
    registry = Registry(var / "models")
    registry.root.mkdir(parents=True)
    shutil.copytree(base, registry.root / "base")
    meta = json.loads((registry.root / "base" / "sift_model.json").read_text())
    meta["version"] = "base"
    (registry.root / "base" / "sift_model.json").write_text(json.dumps(meta))
    registry.promote("base")
    monkeypatch.setenv("SIFT_DATA_DIR", str(var))
    monkeypatch.setenv("SIFT_SECRET_KEY", "t")
    monkeypatch.chdir(REPO)
    runner = CliRunner()

    settings = make_settings(tmp_path, data_dir=var, model_dir=None, model_poll_seconds=0.2,
                             database_url=f"sqlite:///{var / 'sift.db'}")
    app = create_app(settings)
    with TestClient(app) as client:
        def abusive(texts: list[str]) -> list[float]:
            # Straight from the served pipeline: held-out texts must never enter the queue (or the training data).
            return [r.scores["abusive"] for r in app.state.pipeline.classify_many(texts)]

        before = abusive(HELD_OUT)
        # The data team feeds new comments to `review suggest`; moderators decide them over the API.
        new = tmp_path / "new.jsonl"
        new.write_text("".join(json.dumps({"text": t, "channel": "facebook"}) + "\n" for t in corrections(n)), encoding="utf-8")
        assert runner.invoke(cli, ["review", "suggest", "--input", str(new), "--n", str(n)]).exit_code == 0
        with app.state.session_factory() as session:
            create_user(session, "maria", "correct horse battery")
        from service.db.repository import create_api_key

        with app.state.session_factory() as session:
            _, key = create_api_key(session, "mods", ["review"])
        headers = {"X-API-Key": key}
        decided = 0
        while (item := client.post("/review/items/next/claim", headers=headers).json()) is not None:
            labels = sorted(set(item["labels"]) | {"abusive", "negative"}) if "glimbo" in (item["text"] or "") else item["labels"]
            assert client.post(f"/review/items/{item['id']}/decision", headers=headers,
                               json={"labels": labels, "flags": []}).status_code == 200
            decided += 1
        assert decided == n

        exported = tmp_path / "decisions.jsonl"
        result = runner.invoke(cli, ["data", "export-decisions", "--output", str(exported)])
        assert result.exit_code == 0, result.output
        assert len(exported.read_text().splitlines()) == n
        assert json.loads((tmp_path / "decisions.jsonl.meta.json").read_text())["rows"] == n

        trained = runner.invoke(cli, ["train", "--decisions", str(exported), *train_args])
        assert trained.exit_code == 0, trained.output
        candidate = next(v["version"] for v in registry.versions() if v["version"] != "base")
        cand_meta = json.loads((registry.root / candidate / "sift_model.json").read_text())
        assert cand_meta["sources"]["moderators"]["rows"] == n

        compared = runner.invoke(cli, ["models", "compare", candidate])
        assert compared.exit_code == 0 and "verdict:" in compared.output
        promoted = runner.invoke(cli, ["models", "promote", candidate])
        figures = {"n": n, "before": before, "compare": compared.output, "promote_exit": promoted.exit_code,
                   "promote_output": promoted.output, "candidate": candidate, "client": client}
        if promoted.exit_code == 0:
            for _ in range(100):  # the running service picks the new model up by itself
                if client.get("/readyz").json()["components"]["model"]["detail"].startswith(f"model {candidate}"):
                    break
                time.sleep(0.1)
            figures["served_version"] = app.state.pipeline.model_version
            figures["after"] = abusive(HELD_OUT)
        return figures


def test_the_loop_mechanics_on_tiny_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    figures = run_loop(tmp_path, monkeypatch, tiny_model, ["--epochs", "1", "--config", str(_tiny_config(tmp_path, tiny_model))], 12)
    if figures["promote_exit"] == 0:
        assert figures["served_version"] == figures["candidate"]
    else:
        assert "refused" in figures["promote_output"] and "--force" in figures["promote_output"]
        forced = CliRunner().invoke(cli, ["models", "promote", figures["candidate"], "--force"])
        assert forced.exit_code == 0
        client = figures["client"]
        rolled = CliRunner().invoke(cli, ["models", "rollback"])
        assert rolled.exit_code == 0 and "base is now the current model" in rolled.output
        assert client is not None


def _tiny_config(tmp_path: Path, base: Path) -> Path:
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"base_model": "tiny-random", "init_from": str(base), "replay_rows": 200, "batch_size": 32,
                                    "max_length": 32, "learning_rate": 5e-4}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_scenario_a_new_slang_insult_is_learnt_from_moderators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Real encoder: base model trained on the seed data, N = 40 corrections, incremental retraining."""
    import os

    from training.config import TrainingConfig
    from training.trainer import Trainer

    # The default model, trained here (deterministic: the same as `sift train` on the seed data gives), or one given.
    given = os.environ.get("SIFT_SCENARIO_BASE")
    base = Path(given) if given else Trainer(TrainingConfig(seed_data=[REPO / "data" / "seed"]), progress=False).train(
        tmp_path / "base-models", version="b")
    config = tmp_path / "retrain.yaml"
    import yaml

    config.write_text(yaml.safe_dump({"init_from": str(base), "replay_rows": 800, "epochs": 2, "learning_rate": 3e-5,
                                      "patience": 2}), encoding="utf-8")
    figures = run_loop(tmp_path, monkeypatch, base, ["--config", str(config)], 40)
    with capsys.disabled():
        print(f"\nN = {figures['n']} corrections")
        print("abusive score on held-out uses, before:", [round(s, 2) for s in figures["before"]])
        print("after:", [round(s, 2) for s in figures.get("after", [])])
        print(figures["compare"])
        print(figures["promote_output"])
    caught_before = sum(s >= 0.5 for s in figures["before"])
    assert caught_before <= 2, "the base model already knew the word: the scenario proves nothing"
    assert figures["promote_exit"] == 0, figures["promote_output"]  # no label got worse beyond the tolerance
    assert figures["served_version"] == figures["candidate"]
    assert sum(s >= 0.5 for s in figures["after"]) >= 6
