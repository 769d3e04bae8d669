from __future__ import annotations

from pathlib import Path

import pytest

from training.config import TrainingConfig
from training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_config() -> TrainingConfig:
    return TrainingConfig(base_model="tiny-random", seed_data=[REPO / "data" / "seed"], epochs=4, train_limit=800,
                          batch_size=32, max_length=32, learning_rate=2e-3)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_config: TrainingConfig) -> Path:
    """A tiny randomly initialised model, trained for two short epochs, exported and calibrated."""
    return Trainer(tiny_config, progress=False).train(tmp_path_factory.mktemp("models"), version="tiny-1")
