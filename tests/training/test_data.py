from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from model.labels import CHANNELS, LABELS
from training.data import DataError, Example, near_duplicates, read_jsonl, read_many, split, split_of

SEED = Path(__file__).resolve().parents[2] / "data" / "seed"


@pytest.fixture(scope="module")
def seed() -> list[Example]:
    return read_many([SEED])


def test_seed_data_meets_the_brief(seed: list[Example]) -> None:
    assert len(seed) >= 2000
    counts = Counter(label for row in seed for label in row.labels)
    assert all(counts[label] >= 200 for label in LABELS), counts
    assert sum(1 for row in seed if not row.labels) >= 300
    assert {row.channel for row in seed} >= set(CHANNELS) - {"other"}
    assert sum(1 for row in seed if len(row.labels) >= 2) >= 500


def test_no_two_comments_are_near_duplicates_across_splits(seed: list[Example]) -> None:
    parts = split(seed)
    texts = {name: [r.text for r in rows] for name, rows in parts.items()}
    for a, b in [("train", "dev"), ("train", "test"), ("dev", "test")]:
        assert near_duplicates(texts[a], texts[b], threshold=0.8) == [], (a, b)


def test_near_duplicate_check_can_fail() -> None:
    pairs = near_duplicates(["the lift has been broken for nine days now"], ["The lift has been broken for nine days now!!"])
    assert len(pairs) == 1


def test_split_is_deterministic_and_about_70_15_15(seed: list[Example]) -> None:
    assert split_of("Waited in all day") == split_of("waited  in all DAY")
    parts = split(seed)
    shares = {k: len(v) / len(seed) for k, v in parts.items()}
    assert 0.65 < shares["train"] < 0.75 and 0.11 < shares["dev"] < 0.19 and 0.11 < shares["test"] < 0.19


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"labels": []}), '"text" must be a non-empty string'),
        (json.dumps({"text": "hi", "labels": ["rude"]}), '"labels" must be a list drawn from'),
        (json.dumps({"text": "hi", "labels": [], "channel": "myspace"}), '"channel" must be one of'),
    ],
)
def test_bad_rows_are_reported_with_file_and_line(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "ok", "labels": []}) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"bad\.jsonl:2: .*{words[:20]}"):
        read_jsonl(path)


def test_unannotated_targets_are_silent_not_negative() -> None:
    row = Example(text="free iphone", labels=frozenset(), flags=frozenset({"spam"}), source="sms_spam",
                  annotated=frozenset({"spam"}))
    assert row.target("spam") == 1.0 and row.target("pii") is None and row.target("query") is None
