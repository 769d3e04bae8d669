"""Shared helpers for the benchmarks: the machine they ran on, the comments they use, percentiles."""

from __future__ import annotations

import json
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    """Processor name, core count and whether it has AVX-512 VNNI (printed beside every figure)."""
    name, flags = platform.processor() or "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name in ("unknown", "", platform.machine()):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line
                break
    except OSError:
        pass
    import os

    vnni = "avx512_vnni" in flags
    return f"{name}; {os.cpu_count()} logical cores available; AVX-512 VNNI: {'yes' if vnni else 'no'}"


def load_comments(limit: int | None = None) -> list[str]:
    """The team's seed comments (their text only), in a fixed order."""
    texts: list[str] = []
    for path in sorted((REPO / "data" / "seed").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    if not texts:
        raise SystemExit("no seed comments found under data/seed")
    return texts[:limit] if limit else texts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
