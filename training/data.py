"""Labelled comments: reading and checking JSON Lines, splits, fingerprints, near-duplicates.

The format is the labelling guide's (``{"text", "labels", "flags", "channel"}``) plus, for
imported rows, ``source``, ``licence`` and ``annotated``: the targets the row's source
actually speaks about. Silence on a target that is not annotated is never read as "no".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.labels import CHANNELS, FLAGS, LABELS

MODEL_TARGETS: tuple[str, ...] = LABELS + ("spam",)  # staff_named stays with the roster rules
ALL_TARGETS: tuple[str, ...] = LABELS + FLAGS
SPLITS = ("train", "dev", "test")
# Rows from `sift data export-decisions`: the organisation's own, never a public set's.
MODERATORS, MODERATORS_LICENCE = "moderators", "the organisation's own moderation decisions"


class DataError(ValueError):
    """A data file is not in the expected format; the message names the file, line and field."""


@dataclass(frozen=True)
class Example:
    text: str
    labels: frozenset[str]
    flags: frozenset[str] = frozenset()
    channel: str | None = None
    source: str = "seed"
    licence: str = "team"
    annotated: frozenset[str] = field(default_factory=lambda: frozenset(ALL_TARGETS))
    group: str | None = None  # rows of one group (a template, a video) always land in the same split

    def target(self, name: str) -> float | None:
        """1.0 / 0.0 when the row speaks about ``name``; None when its source is silent."""
        if name not in self.annotated:
            return None
        return 1.0 if (name in self.labels or name in self.flags) else 0.0

    def to_json(self) -> dict[str, object]:
        row: dict[str, object] = {"text": self.text, "labels": sorted(self.labels, key=ALL_TARGETS.index),
                                  "flags": sorted(self.flags), "channel": self.channel}
        if self.source != "seed":
            row.update(source=self.source, licence=self.licence, annotated=sorted(self.annotated, key=ALL_TARGETS.index))
        if self.group is not None:
            row["group"] = self.group
        return row


def target_matrix(rows: Sequence[Example], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Targets (1/0) and the annotation mask (1 where the row's source speaks about the target)."""
    y = np.zeros((len(rows), len(names)), dtype=np.float32)
    m = np.zeros_like(y)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            value = row.target(name)
            if value is not None:
                y[i, j], m[i, j] = value, 1.0
    return y, m


def parse_example(raw: object, where: str) -> Example:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: each line must be a JSON object")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: \"text\" must be a non-empty string")
    labels = raw.get("labels")
    if not isinstance(labels, list) or any(label not in LABELS for label in labels):
        raise DataError(f"{where}: \"labels\" must be a list drawn from {list(LABELS)}, got {labels!r}")
    flags = raw.get("flags", [])
    if not isinstance(flags, list) or any(f not in FLAGS for f in flags):
        raise DataError(f"{where}: \"flags\" must be a list drawn from {list(FLAGS)}, got {flags!r}")
    channel = raw.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise DataError(f"{where}: \"channel\" must be one of {list(CHANNELS)}, got {channel!r}")
    annotated = raw.get("annotated", list(ALL_TARGETS))
    if not isinstance(annotated, list) or any(a not in ALL_TARGETS for a in annotated):
        raise DataError(f"{where}: \"annotated\" must be a list drawn from {list(ALL_TARGETS)}")
    group = raw.get("group")
    if group is not None and not isinstance(group, str):
        raise DataError(f"{where}: \"group\" must be a string when given")
    return Example(text=text, labels=frozenset(labels), flags=frozenset(flags), channel=channel,
                   source=str(raw.get("source", "seed")), licence=str(raw.get("licence", "team")),
                   annotated=frozenset(annotated), group=group)


def read_jsonl(path: Path) -> list[Example]:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        rows.append(parse_example(raw, f"{path}:{number}"))
    return rows


def read_many(paths: Iterable[Path]) -> list[Example]:
    out: list[Example] = []
    for path in paths:
        out.extend(read_jsonl(path) if path.is_file() else [e for p in sorted(path.glob("*.jsonl")) for e in read_jsonl(p)])
    return out


def write_jsonl(rows: Iterable[Example], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


_SPACE = re.compile(r"\s+")


def canonical(text: str) -> str:
    return _SPACE.sub(" ", text.lower()).strip()


SEED_SHARES = (70, 15)  # train and dev percentages; the rest is test
IMPORT_SHARES = (80, 10)  # public sets are larger: more of each trains, 10 % each is held out


def split_of(key: str, shares: tuple[int, int] = SEED_SHARES) -> str:
    """A deterministic split by a hash of ``key`` (a text, or a row's group): stable across runs and machines."""
    bucket = int(hashlib.blake2b(canonical(key).encode(), digest_size=8).hexdigest(), 16) % 100
    return "train" if bucket < shares[0] else "dev" if bucket < shares[0] + shares[1] else "test"


def split(rows: Sequence[Example], shares: tuple[int, int] = SEED_SHARES) -> dict[str, list[Example]]:
    """Train, dev and test rows (70/15/15 by default); rows of one ``group`` stay together."""
    out: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for row in rows:
        out[split_of(row.group or row.text, shares)].append(row)
    return out


def fingerprint(rows: Sequence[Example]) -> str:
    """SHA-256 over the rows in order: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row.to_json(), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


_WORD = re.compile(r"[a-z0-9']+")


def shingles(text: str, n: int = 2) -> frozenset[str]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset(words)
    return frozenset(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))


def near_duplicates(a: Sequence[str], b: Sequence[str], threshold: float = 0.8) -> list[tuple[str, str, float]]:
    """Pairs (one from each side) whose word-bigram Jaccard similarity reaches ``threshold``."""
    index: dict[str, list[int]] = {}
    b_sh = [shingles(t) for t in b]
    for j, sh in enumerate(b_sh):
        for s in sh:
            index.setdefault(s, []).append(j)
    pairs = []
    for text in a:
        sa = shingles(text)
        if not sa:
            continue
        counts: dict[int, int] = {}
        for s in sa:
            for j in index.get(s, ()):
                counts[j] = counts.get(j, 0) + 1
        for j, inter in counts.items():
            union = len(sa) + len(b_sh[j]) - inter
            if union and inter / union >= threshold:
                pairs.append((text, b[j], inter / union))
    return pairs
