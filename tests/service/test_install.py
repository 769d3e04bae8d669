"""Install what you use: the service imports and answers without the training stack, and nothing it
reads depends on the folder it was started in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from model.shipped import POLICY_FILE, RELEASE_MODEL_DIR, RULES_DIR, SHIPPED_DIR, STAFF_ROSTER
from service.settings import Settings, default_data_dir
from tests.logscan import scan_output

REPO = Path(__file__).resolve().parents[2]
TRAINING_STACK = ("torch", "transformers", "datasets", "dask", "distributed", "matplotlib", "sklearn", "scipy", "pyarrow")


def test_the_base_install_names_none_of_the_training_stack() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {dep.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for dep in project["dependencies"]}
    heavy = {"torch", "transformers", "datasets", "dask", "matplotlib", "scikit-learn", "scipy", "pyarrow", "onnx"}
    assert not base & heavy, f"the service install would pull {sorted(base & heavy)}"
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch==") for d in extras["train"]) and any(d.startswith("dask") for d in extras["batch"])


def test_the_service_serves_and_classifies_without_importing_the_training_stack(tmp_path: Path) -> None:
    script = f"""
import json, sys
from fastapi.testclient import TestClient
from api.main import create_app
from service.settings import Settings
settings = Settings(data_dir={str(tmp_path)!r}, secret_key="t")
with TestClient(create_app(settings)) as client:
    body = client.post("/classify", json={{"text": "Waited in all day, nobody came. Call me on 07700 900123"}}).json()
    ready = client.get("/readyz").json()
from cli.main import app  # the console command's modules too
print(json.dumps({{"source": body["source"], "labels": body["labels"], "ready": ready["status"],
                  "loaded": sorted(m for m in {TRAINING_STACK!r} if m in sys.modules)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    scan_output("installed service", done.stderr)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["source"] == "model" and "pii" in seen["labels"] and seen["ready"] == "ready"
    assert seen["loaded"] == [], f"serving imported {seen['loaded']}"


def test_defaults_are_the_shipped_files_whatever_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("SIFT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.rules_dir == RULES_DIR and settings.policy_file == POLICY_FILE and settings.staff_roster == STAFF_ROSTER
    assert all(p.is_absolute() and p.exists() for p in (RULES_DIR, POLICY_FILE, STAFF_ROSTER, RELEASE_MODEL_DIR))
    assert settings.data_dir == default_data_dir() == REPO / "var"  # this checkout's var/, not ./var
    assert SHIPPED_DIR == REPO / "data"


def test_a_relative_path_is_resolved_once_against_the_starting_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("state"), secret_key="t", _env_file=None)  # type: ignore[call-arg]
    monkeypatch.chdir(REPO)
    assert settings.data_dir == tmp_path / "state"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'state' / 'sift.db'}"


def test_sift_classify_from_another_folder_serves_the_promoted_model(tmp_path: Path) -> None:
    """The promoted model is found through the settings, not the folder the command is run from."""
    data_dir = tmp_path / "state"
    promoted = data_dir / "models" / "v-promoted"
    promoted.mkdir(parents=True)
    for item in RELEASE_MODEL_DIR.iterdir():
        (promoted / item.name).symlink_to(item)
    (promoted / "sift_model.json").unlink()
    meta = json.loads((RELEASE_MODEL_DIR / "sift_model.json").read_text(encoding="utf-8"))
    (promoted / "sift_model.json").write_text(json.dumps({**meta, "version": "v-promoted"}), encoding="utf-8")
    (data_dir / "models" / "current").symlink_to("v-promoted")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIFT_")}
    done = subprocess.run([sys.executable, "-m", "cli.main", "classify", "Huge thanks to the repairs team"], cwd=elsewhere,
                          env={**env, "SIFT_DATA_DIR": str(data_dir)}, capture_output=True, text=True, timeout=300)
    scan_output("sift classify, installed", done.stderr)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["source"] == "model" and result["model_version"] == "v-promoted"
