"""``sift batch``: classify a backlog (JSONL or Parquet, millions of rows) on Dask, resumably.

The input is cut into chunks of line numbers. Each chunk becomes one Dask task whose output is
written to ``<output>.parts/part-NNNNNN.jsonl`` atomically (a temporary file, then a rename), so a
chunk is either wholly done or not at all. After a crash, the same command skips the chunks whose
parts exist and does the rest; when all are done the parts are joined, in input order, into the
output file. Every input row therefore comes out exactly once. Each worker loads the pipeline once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from tqdm import tqdm

_PIPELINE_ENV = ("SIFT_RULES_DIR", "SIFT_STAFF_ROSTER", "SIFT_ORG_FILE", "SIFT_MODEL_DIR", "SIFT_DATA_DIR", "SIFT_POLICY_FILE")


@lru_cache(maxsize=4)
def _engine(config: tuple[tuple[str, str], ...]):  # type: ignore[no-untyped-def]
    """Built once per worker process and configuration."""
    for key, value in config:
        os.environ[key] = value
    from api.settings import Settings
    from model.loader import build_pipeline
    from model.policy.config import load_policy
    from model.policy.engine import PolicyEngine

    settings = Settings()
    pipeline, _ = build_pipeline(rules_dir=settings.rules_dir, staff_roster=settings.staff_roster, org_file=settings.org_file,
                                 model_dir=settings.effective_model_dir)
    return pipeline, PolicyEngine(load_policy(settings.policy_file))


def _read_rows(path: Path, start: int, stop: int) -> list[tuple[int, str]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path).slice(start, stop - start).to_pylist()
        return [(start + i + 1, json.dumps(row, default=str)) for i, row in enumerate(table)]
    out = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if number > stop:
                break
            if number > start:
                out.append((number, line))
    return out


def classify_chunk(path: str, start: int, stop: int, part: str, config: tuple[tuple[str, str], ...]) -> int:
    """Classify input lines (start, stop] and write them to ``part`` atomically; returns rows written."""
    from cli.batchfile import _parse, _posted

    pipeline, policy = _engine(config)
    rows = _read_rows(Path(path), start, stop)
    parsed = [(n, *_parse(n, line)) for n, line in rows if line.strip()]
    good = [(n, item) for n, item, err in parsed if item is not None]
    results = dict(zip([n for n, _ in good], pipeline.classify_many([item["text"] for _, item in good]), strict=True)) if good else {}
    tmp = Path(part + f".tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as out:
        for n, item, err in parsed:
            if err is not None:
                out.write(json.dumps(err, ensure_ascii=False) + "\n")
                continue
            assert item is not None
            decision = policy.decide(results[n], item["text"], channel=item.get("channel"), posted_at=_posted(item.get("posted_at")))
            out.write(json.dumps({"id": item.get("id"), "line": n, **asdict(results[n]), **decision.public_fields()},
                                 ensure_ascii=False) + "\n")
    os.replace(tmp, part)
    return len(parsed)


def count_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def chunks(total: int, size: int) -> Iterator[tuple[int, int, int]]:
    for index, start in enumerate(range(0, total, size)):
        yield index, start, min(total, start + size)


def run_batch(input_path: Path, output: Path, *, chunk_size: int = 1000, client: Any = None, workers: int = 2,
              scheduler: str | None = None, progress: bool = True) -> dict[str, int]:
    """Classify ``input_path`` into ``output`` on Dask; resumable. Returns counts of chunks done and skipped."""
    from dask.distributed import Client, LocalCluster, as_completed

    parts_dir = output.with_name(output.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    total = count_rows(input_path)
    config = tuple((k, os.environ[k]) for k in _PIPELINE_ENV if k in os.environ)
    plan = list(chunks(total, chunk_size))
    todo = [(i, s, e) for i, s, e in plan if not (parts_dir / f"part-{i:06d}.jsonl").exists()]
    own_cluster = None
    if client is None:
        if scheduler:
            client = Client(scheduler)
        else:
            own_cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None, host="127.0.0.1",
                                       processes=True)
            client = Client(own_cluster)
    try:
        futures = [client.submit(classify_chunk, str(input_path.resolve()), s, e, str(parts_dir / f"part-{i:06d}.jsonl"), config,
                                 key=f"sift-chunk-{input_path.name}-{i}", retries=3, pure=False) for i, s, e in todo]
        with tqdm(total=total, initial=total - sum(e - s for _, s, e in todo), unit="rows", desc="classifying",
                  disable=not progress) as bar:
            for future in as_completed(futures):
                bar.update(future.result())
    finally:
        if own_cluster is not None:
            client.close()
            own_cluster.close()
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for i, _, _ in plan:
            with (parts_dir / f"part-{i:06d}.jsonl").open("r", encoding="utf-8") as part:
                for line in part:
                    out.write(line)
    os.replace(tmp, output)
    return {"chunks": len(plan), "done_now": len(todo), "skipped": len(plan) - len(todo), "rows": total}
