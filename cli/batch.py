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
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

if TYPE_CHECKING:
    from service.settings import Settings

@lru_cache(maxsize=4)
def _engine(config: str):  # type: ignore[no-untyped-def]
    """The pipeline and policy, built once per worker process and configuration (the settings, as JSON)."""
    from cli.common import pipeline, policy_engine
    from service.settings import Settings

    settings = Settings.model_validate_json(config)
    return (pipeline(settings), policy_engine(settings.policy_file))


def _read_rows(path: Path, start: int, stop: int, offset: int) -> list[tuple[int, str]]:
    """Rows (start, stop], numbered from 1. JSONL: seek to the chunk's byte ``offset``; Parquet: read only
    the row groups that hold the chunk. Either way a chunk costs the same wherever it is in the file."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        groups, first, seen = [], None, 0
        for g in range(parquet.metadata.num_row_groups):
            n = parquet.metadata.row_group(g).num_rows
            if seen + n > start and seen < stop:
                groups.append(g)
                first = seen if first is None else first
            seen += n
        if not groups or first is None:
            return []
        table = pa.concat_tables([parquet.read_row_group(g) for g in groups]).slice(start - first, stop - start).to_pylist()
        return [(start + i + 1, json.dumps(row, default=str)) for i, row in enumerate(table)]
    out = []
    with path.open("rb") as handle:
        handle.seek(offset)
        for number in range(start + 1, stop + 1):
            line = handle.readline()
            if not line:
                break
            out.append((number, line.decode("utf-8", errors="replace")))
    return out


def classify_chunk(path: str, start: int, stop: int, part: str, config: str, offset: int = 0) -> int:
    """Classify input lines (start, stop] (the first at byte ``offset``) and write them to ``part`` atomically;
    returns rows written. ``config`` is the settings as JSON, so every worker serves what the caller serves."""
    from cli.batchfile import classify_lines

    pipeline, policy = _engine(config)
    rows = [(n, line) for n, line in _read_rows(Path(path), start, stop, offset) if line.strip()]
    tmp = Path(part + f".tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as out:
        for record in classify_lines(pipeline, policy, rows):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, part)
    return len(rows)


def scan(path: Path, chunk_size: int) -> tuple[int, list[int]]:
    """Row count, and the byte offset where each chunk of ``chunk_size`` rows starts (JSONL; zeros for Parquet)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        total = int(pq.ParquetFile(path).metadata.num_rows)
        return total, [0] * ((total + chunk_size - 1) // chunk_size)
    offsets, total, position = [], 0, 0
    with path.open("rb") as handle:
        for line in handle:
            if total % chunk_size == 0:
                offsets.append(position)
            position += len(line)
            total += 1
    return total, offsets


def chunks(total: int, size: int) -> Iterator[tuple[int, int, int]]:
    for index, start in enumerate(range(0, total, size)):
        yield index, start, min(total, start + size)


def run_batch(input_path: Path, output: Path, *, settings: Settings | None = None, chunk_size: int = 1000, client: Any = None,
              workers: int = 2, scheduler: str | None = None, progress: bool = True) -> dict[str, int]:
    """Classify ``input_path`` into ``output`` on Dask; resumable. Returns counts of chunks done and skipped."""
    from dask.distributed import Client, LocalCluster, as_completed

    parts_dir = output.with_name(output.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    total, offsets = scan(input_path, chunk_size)
    if settings is None:
        from service.settings import Settings

        settings = Settings()
    if scheduler is None and client is None and not settings.model_threads:
        settings = settings.model_copy(update={"model_threads": max(1, (os.cpu_count() or 1) // workers)})  # share the cores
    # Paths resolved here, so a worker on another machine or in another folder reads the same files.
    config = settings.resolved().model_dump_json()
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
                                 offsets[i], key=f"sift-chunk-{input_path.name}-{i}", retries=3, pure=False) for i, s, e in todo]
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
