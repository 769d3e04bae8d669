"""`sift batch` on a local Dask cluster: a worker killed mid-run, a driver crash, and every row exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.batch import run_batch
from tests.serving import CheckedThread

REPO = Path(__file__).resolve().parents[2]


def make_input(path: Path, n: int) -> None:
    lines = []
    for i in range(n):
        if i % 97 == 13:
            lines.append("{broken json")
        else:
            lines.append(json.dumps({"id": f"c{i}", "text": f"comment {i}: those clowns never came, ring 07700 900{i % 1000:03d}"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check_exactly_once(output: Path, n: int) -> None:
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == list(range(1, n + 1))  # every input row, once, in order
    good = [r for r in rows if "error" not in r]
    assert len({r["id"] for r in good}) == len(good) and all("pii" in r["labels"] for r in good)


@pytest.fixture
def rules_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFT_MODEL_DIR", str(tmp_path / "no-model"))
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path / "var"))


@pytest.mark.slow  # SIGKILLs a Dask worker
def test_a_worker_killed_mid_run_loses_and_repeats_nothing(tmp_path: Path, rules_only: None) -> None:
    from dask.distributed import Client, LocalCluster

    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    make_input(source, 3000)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1", processes=True)
    client = Client(cluster)
    try:
        parts = output.with_name(output.name + ".parts")
        killed: list[int] = []

        def kill_one_worker() -> None:
            for _ in range(600):
                if parts.exists() and any(parts.glob("part-*.jsonl")):
                    pid = next(iter(client.run(os.getpid).values()))
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.02)

        killer = CheckedThread(target=kill_one_worker)
        killer.start()
        counts = run_batch(source, output, chunk_size=100, client=client, progress=False)
        killer.join_checked(timeout=30)
    finally:
        client.close()
        cluster.close()
    assert killed, "no worker was killed: the test did not test anything"
    assert counts["chunks"] == 30
    check_exactly_once(output, 3000)


@pytest.mark.slow  # SIGKILLs the driver and its Dask workers
def test_after_a_crash_the_same_command_resumes_without_redoing_rows(tmp_path: Path, rules_only: None) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    make_input(source, 3000)
    env = {**os.environ}
    command = [sys.executable, "-m", "cli.main", "batch", "--input", str(source), "--output", str(output), "--workers", "2",
               "--chunk-size", "100"]
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = output.with_name(output.name + ".parts")
    for _ in range(1200):
        if parts.exists() and len(list(parts.glob("part-*.jsonl"))) >= 3:
            break
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the driver and its workers die mid-run
    first.wait(timeout=30)
    done_before = {p.name for p in parts.glob("part-*.jsonl")}
    assert 0 < len(done_before) < 30 and not output.exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.jsonl")}
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"({len(done_before)} already done)" in second.stdout
    assert all((parts / name).stat().st_mtime_ns == stamps[name] for name in done_before)  # not redone
    check_exactly_once(output, 3000)


def test_chunks_are_read_from_where_they_start_in_jsonl_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cli.batch import _read_rows, scan

    rows = [{"id": f"c{i}", "text": f"comment {i} ✓"} for i in range(23)]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=4)  # chunks straddle row groups
    for path in (jsonl, parquet):
        total, offsets = scan(path, 5)
        assert total == 23 and len(offsets) == 5
        got = [(n, json.loads(line)) for i, start in enumerate(range(0, 23, 5))
               for n, line in _read_rows(path, start, min(23, start + 5), offsets[i])]
        assert got == [(i + 1, rows[i]) for i in range(23)], path.suffix
