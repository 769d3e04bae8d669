"""Real sources beside the seed: balanced by sampling weights, judged and calibrated on a mix, gated per source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.compare import judge
from training.config import TrainingConfig
from training.data import MODEL_TARGETS, Example, target_matrix
from training.trainer import length_batches, mix_score, row_weights, source_mix_weights

REPO = Path(__file__).resolve().parents[2]


def _rows(source: str, n: int, labels: frozenset[str] = frozenset(), annotated: frozenset[str] | None = None) -> list[Example]:
    kwargs = {"annotated": annotated} if annotated is not None else {}
    return [Example(text=f"{source} {i}", labels=labels, source=source, **kwargs) for i in range(n)]


def test_sources_get_their_share_of_the_draws_however_many_rows_they_have() -> None:
    rows = _rows("seed", 100) + _rows("olid", 10_000, annotated=frozenset({"abusive"}))
    config = TrainingConfig(base_model="tiny-random", source_weights={"seed": 3, "olid": 1}, epoch_rows=4000)
    p = row_weights(rows, config)
    assert p is not None and p.sum() == pytest.approx(1.0)
    assert p[:100].sum() == pytest.approx(0.75) and p[100:].sum() == pytest.approx(0.25)
    assert (p[100:] > 0).all()  # no row is thrown away
    assert row_weights(rows, TrainingConfig(base_model="tiny-random")) is None  # plain epochs: one pass over every row


def test_length_batches_use_every_drawn_row_once_with_similar_lengths_together() -> None:
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(5, 60, 1000))
    order = rng.permutation(1000)
    batches = length_batches(order, lengths, 16, rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([max(lengths[k] for k in b) - min(lengths[k] for k in b) for b in batches])
    assert spread < 5  # random batches of 16 would span ~50 tokens


def test_the_mix_weighs_seed_against_all_real_sources_per_label() -> None:
    seed = _rows("seed", 10, frozenset({"abusive"}))
    olid = _rows("olid", 1000, annotated=frozenset({"abusive"}))
    banking = _rows("banking77", 50, frozenset({"query"}), annotated=frozenset({"query", "abusive"}))
    rows = seed + olid + banking
    _, m = target_matrix(rows, MODEL_TARGETS)
    w = source_mix_weights(rows, m, seed_weight=0.5)
    abusive, query = MODEL_TARGETS.index("abusive"), MODEL_TARGETS.index("query")
    assert w[:10, abusive].sum() == pytest.approx(0.5)
    assert w[10:1010, abusive].sum() == pytest.approx(0.25) and w[1010:, abusive].sum() == pytest.approx(0.25)
    assert w[1010:, query].sum() == pytest.approx(0.5) and w[10:1010, query].sum() == 0  # olid is silent on query


def test_checkpoint_score_falls_when_a_real_source_falls_even_if_seed_is_perfect() -> None:
    seed = _rows("seed", 20, frozenset({"abusive"})) + _rows("seed", 20)
    olid = _rows("olid", 20, frozenset({"abusive"}), annotated=frozenset({"abusive"})) + _rows("olid", 20, annotated=frozenset({"abusive"}))
    rows = seed + olid
    y, m = target_matrix(rows, MODEL_TARGETS)
    perfect = y.astype(bool)
    seed_only = perfect.copy()
    seed_only[40:, :] = False  # misses every offensive tweet
    best, _ = mix_score(rows, perfect, y, m, 0.5)
    worse, per_source = mix_score(rows, seed_only, y, m, 0.5)
    assert per_source["seed"] == best == 1.0 and worse < best


def test_the_gate_refuses_a_model_that_gains_on_seed_by_losing_on_real_text() -> None:
    current = {"seed-dev": {"macro_f1": 0.90, "f1": {"abusive": 0.95}}, "olid-dev": {"macro_f1": 0.80, "f1": {"abusive": 0.80}}}
    candidate = {"seed-dev": {"macro_f1": 0.95, "f1": {"abusive": 0.99}}, "olid-dev": {"macro_f1": 0.70, "f1": {"abusive": 0.70}}}
    problems = judge(candidate, current)
    assert problems and all(p.startswith("olid-dev") for p in problems)
    assert judge(current, current) == []


def test_the_gate_does_not_refuse_on_a_label_with_a_handful_of_positives() -> None:
    current = {"probe": {"macro_f1": 0.8, "f1": {"spam": 1.0, "query": 0.9}, "support": {"spam": 1, "query": 40}}}
    candidate = {"probe": {"macro_f1": 0.8, "f1": {"spam": 0.0, "query": 0.9}, "support": {"spam": 1, "query": 40}}}
    assert judge(candidate, current) == []  # one spam row flipped: shown in the table, not a verdict
    candidate["probe"]["f1"]["query"] = 0.8
    assert judge(candidate, current) and "query" in judge(candidate, current)[0]


def _probe(flips_wrong: int, flips_right: int) -> tuple[dict[str, dict], dict[str, dict]]:  # type: ignore[type-arg]
    """A 200-row probe set with 40 negatives; the current model finds 30 of them (and 5 false alarms); the
    candidate loses ``flips_wrong`` of its hits and gains ``flips_right`` of its misses."""
    from training.compare import resample_f1
    from training.data import ALL_TARGETS
    from training.metrics import label_metrics

    rows = _rows("probe", 40, frozenset({"negative"}), annotated=frozenset({"negative"})) + _rows(
        "probe-clean", 160, annotated=frozenset({"negative"}))
    y, m = target_matrix(rows, ALL_TARGETS)
    j = ALL_TARGETS.index("negative")
    current = np.zeros_like(y, dtype=bool)
    current[:30, j] = True
    current[40:45, j] = True
    candidate = current.copy()
    candidate[:flips_wrong, j] = False
    candidate[30:30 + flips_right, j] = True

    def summary(pred: np.ndarray) -> dict[str, dict]:  # type: ignore[type-arg]
        metrics = label_metrics(pred, y, m, ALL_TARGETS)
        return {"probe": {"macro_f1": metrics["negative"]["f1"], "f1": {"negative": metrics["negative"]["f1"]},
                          "support": {"negative": 40}, "resampled": resample_f1("probe", rows, pred)}}

    return summary(candidate), summary(current)


def test_the_gate_refuses_a_loss_the_paired_resamples_agree_on() -> None:
    candidate, current = _probe(flips_wrong=6, flips_right=0)
    problems = judge(candidate, current)
    assert any(p.startswith("probe: negative F1 0.696 is below the current 0.800") and "in 100% of 1000 paired resamples" in p
               for p in problems), problems
    candidate, current = _probe(flips_wrong=3, flips_right=0)  # three hits lost and nothing gained: still a loss
    assert judge(candidate, current)


def test_the_gate_does_not_refuse_on_rows_flipping_both_ways() -> None:
    candidate, current = _probe(flips_wrong=6, flips_right=4)
    assert candidate["probe"]["f1"]["negative"] < current["probe"]["f1"]["negative"] - 0.02  # beyond the tolerance...
    assert judge(candidate, current) == []  # ...but the resamples do not agree it is a loss
