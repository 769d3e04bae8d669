"""Classify a JSON Lines file: one result line per input line, in order.

Each line is checked as ``POST /classify`` checks a body (:func:`service.comments.parse_line`) and
decided as the service decides (:func:`service.comments.classify`). A malformed line gets an error
object in its place (with its line number) and the rest of the file carries on; nothing the user sent
is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from model.pipeline import Pipeline
from model.policy.engine import PolicyEngine
from service.comments import Submission, SubmissionError, classify, parse_line


def _chunks(lines: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for pair in lines:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def classify_lines(pipeline: Pipeline, policy: PolicyEngine, lines: Iterable[tuple[int, str]]) -> list[dict[str, Any]]:
    """One output object per numbered input line, in order: the decision, or the error in its place."""
    parsed: list[tuple[int, Submission | SubmissionError]] = []
    for number, line in lines:
        try:
            parsed.append((number, parse_line(line)))
        except SubmissionError as exc:
            parsed.append((number, exc))
    good = [item for _, item in parsed if isinstance(item, Submission)]
    decided = iter(classify(pipeline, policy, good))
    out = []
    for number, item in parsed:
        if isinstance(item, SubmissionError):
            out.append({"line": number, **({"id": item.id} if item.id is not None else {}), "error": str(item)})
        else:
            d = next(decided)
            out.append({"id": d.submission.id, "line": number, **{k: v for k, v in d.public().items() if k != "id"}})
    return out


def classify_file(pipeline: Pipeline, path: Path, out: TextIO, *, policy: PolicyEngine, batch_size: int = 64,
                  progress: bool = True) -> dict[str, int]:
    counts = {"ok": 0, "errors": 0}
    total = path.stat().st_size
    with path.open("r", encoding="utf-8", errors="replace") as handle, \
            tqdm(total=total, unit="B", unit_scale=True, desc="classifying", disable=not progress) as bar:
        numbered = ((n, line) for n, line in enumerate(handle, start=1) if line.strip())
        for chunk in _chunks(numbered, batch_size):
            for record in classify_lines(pipeline, policy, chunk):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts["errors" if "error" in record else "ok"] += 1
            bar.update(sum(len(line.encode("utf-8")) for _, line in chunk))
    return counts
