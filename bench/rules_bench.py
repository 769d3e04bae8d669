"""Rules-only latency and throughput, in-process and over HTTP on 127.0.0.1.

    .venv/bin/python bench/rules_bench.py [--http-requests 2000] [--concurrency 8]

Prints what it measured; asserts nothing (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, load_comments, machine, percentile  # noqa: E402


def in_process(texts: list[str], rounds: int) -> None:
    from model.loader import build_pipeline

    started = time.perf_counter()
    pipeline, _ = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=None)
    load_s = time.perf_counter() - started
    for text in texts[:200]:
        pipeline.classify(text)  # warm caches
    latencies = []
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter()
            pipeline.classify(text)
            latencies.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    n = 0
    for _ in range(rounds):
        for i in range(0, len(texts), 64):
            n += len(pipeline.classify_many(texts[i:i + 64]))
    throughput = n / (time.perf_counter() - t0)
    print(f"in-process rules pipeline ({len(latencies)} classifications, rules loaded in {load_s:.2f} s)")
    print(f"  one comment: p50 {percentile(latencies, 50):.3f} ms  p99 {percentile(latencies, 99):.3f} ms  "
          f"mean {sum(latencies) / len(latencies):.3f} ms")
    print(f"  batched (64): {throughput:,.0f} comments/s on one core")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _http(texts: list[str], port: int, requests: int, concurrency: int) -> None:
    import httpx

    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(100):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise SystemExit("server did not become ready")
        for text in texts[:50]:
            await client.post("/classify", json={"text": text})
        latencies: list[float] = []
        for i in range(min(requests, 1000)):
            t0 = time.perf_counter()
            r = await client.post("/classify", json={"text": texts[i % len(texts)]})
            latencies.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
        print(f"HTTP, one client, sequential ({len(latencies)} requests)")
        print(f"  p50 {percentile(latencies, 50):.2f} ms  p99 {percentile(latencies, 99):.2f} ms")

        errors = 0
        done = 0
        conc_lat: list[float] = []
        queue = list(range(requests))

        async def worker() -> None:
            nonlocal errors, done
            while queue:
                i = queue.pop()
                t0 = time.perf_counter()
                try:
                    r = await client.post("/classify", json={"text": texts[i % len(texts)]})
                    if r.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                conc_lat.append((time.perf_counter() - t0) * 1000)
                done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        print(f"HTTP, {concurrency} concurrent clients ({done} requests, {errors} errors)")
        print(f"  {done / elapsed:,.0f} requests/s  p50 {percentile(conc_lat, 50):.2f} ms  p99 {percentile(conc_lat, 99):.2f} ms")

        batch = [{"text": t} for t in texts[:64]]
        t0 = time.perf_counter()
        for _ in range(20):
            (await client.post("/classify/batch", json={"items": batch})).raise_for_status()
        print(f"HTTP, /classify/batch of 64: {20 * 64 / (time.perf_counter() - t0):,.0f} comments/s")


def over_http(texts: list[str], requests: int, concurrency: int) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SIFT_DATA_DIR": tmp, "SIFT_MODEL_DIR": str(Path(tmp) / "none"), "SIFT_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(_http(texts, port, requests, concurrency))
        finally:
            server.terminate()
            server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the seed comments in-process")
    parser.add_argument("--http-requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    texts = load_comments()
    lengths = sorted(len(t) for t in texts)
    print(f"machine: {machine()}")
    print(f"comments: {len(texts)} seed comments, median {lengths[len(lengths) // 2]} characters, longest {lengths[-1]}")
    in_process(texts, args.rounds)
    if not args.no_http:
        over_http(texts, args.http_requests, args.concurrency)


if __name__ == "__main__":
    main()
