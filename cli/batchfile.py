"""Classify a JSON Lines file: one result line per input line, in order.

A malformed line gets an error object in its place (with its line number) and the
rest of the file carries on; nothing the user sent is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from model.pipeline import MAX_TEXT_CHARS, Pipeline
from model.policy.engine import PolicyEngine

CHANNELS = {"facebook", "twitter", "linkedin", "youtube", "instagram", "other"}


def _parse(line_no: int, line: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Return (item, None) for a good line or (None, error) for a bad one."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, {"line": line_no, "error": f"not valid JSON: {exc.msg} at column {exc.colno}"}
    if not isinstance(item, dict):
        return None, {"line": line_no, "error": "each line must be a JSON object with a \"text\" field"}
    error = None
    text = item.get("text")
    if not isinstance(text, str):
        error = "\"text\" is missing or not a string"
    elif not text.strip():
        error = "\"text\" is empty or only whitespace"
    elif len(text) > MAX_TEXT_CHARS:
        error = f"\"text\" has {len(text)} characters; the limit is {MAX_TEXT_CHARS}"
    elif item.get("channel") is not None and item["channel"] not in CHANNELS:
        error = f"\"channel\" must be one of {sorted(CHANNELS)}"
    elif item.get("posted_at") is not None and _posted(item["posted_at"]) is None:
        error = "\"posted_at\" must be an ISO 8601 date and time, e.g. 2026-11-27T10:30:00Z"
    if error:
        return None, {"line": line_no, "id": item.get("id"), "error": error}
    return item, None


def _posted(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _chunks(lines: Iterator[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for pair in lines:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def classify_file(pipeline: Pipeline, path: Path, out: TextIO, *, batch_size: int = 64, progress: bool = True,
                  policy: PolicyEngine | None = None) -> dict[str, int]:
    counts = {"ok": 0, "errors": 0}
    total = path.stat().st_size
    with path.open("r", encoding="utf-8", errors="replace") as handle, \
            tqdm(total=total, unit="B", unit_scale=True, desc="classifying", disable=not progress) as bar:
        numbered = ((n, line) for n, line in enumerate(handle, start=1) if line.strip())
        for chunk in _chunks(numbered, batch_size):
            parsed = [(n, *_parse(n, line)) for n, line in chunk]
            good = [(n, item) for n, item, err in parsed if item is not None]
            results = dict(zip([n for n, _ in good], pipeline.classify_many([item["text"] for _, item in good]), strict=True))
            for n, item, err in parsed:
                if err is not None:
                    out.write(json.dumps(err, ensure_ascii=False) + "\n")
                    counts["errors"] += 1
                else:
                    assert item is not None
                    record = {"id": item.get("id"), "line": n, **asdict(results[n])}
                    if policy is not None:
                        record.update(policy.decide(results[n], item["text"], channel=item.get("channel"),
                                                    posted_at=_posted(item.get("posted_at"))).public_fields())
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    counts["ok"] += 1
            bar.update(sum(len(line.encode("utf-8")) for _, line in chunk))
    return counts
