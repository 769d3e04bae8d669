"""HTTP load test against a sift server on 127.0.0.1, at 1, 20 and 100 concurrent clients.

    .venv/bin/python bench/load_test.py [--seconds 10] [--model var/models/current]

Starts its own server (temporary data folder, the given model) on a free loopback port,
sends only to 127.0.0.1, stops by itself, and prints p50, p99, throughput and errors for
each level. Every loop is bounded in time and count.
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def level(url: str, texts: list[str], clients: int, seconds: float, max_requests: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    sent = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def one_client(offset: int) -> None:
            nonlocal errors, sent
            i = offset
            while time.perf_counter() < stop and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/classify", json={"text": texts[i % len(texts)]})
                    if r.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - t0) * 1000)
                i += clients

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"clients": clients, "requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


async def run(url: str, texts: list[str], seconds: float, started: float, ready: list[float]) -> list[dict[str, float]]:
    import httpx

    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(600):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    ready.append(time.perf_counter() - started)
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        for t in texts[:100]:
            await client.post("/classify", json={"text": t})  # warm up
    return [await level(url, texts, clients, seconds, 50_000) for clients in (1, 20, 100)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--model", type=Path, default=REPO / "var" / "models" / "current")
    args = parser.parse_args()
    texts = load_comments()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SIFT_DATA_DIR": tmp, "SIFT_MODEL_DIR": str(args.model.resolve()), "SIFT_LOG_LEVEL": "WARNING",
               "SIFT_MODEL_POLL_SECONDS": "0"}
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready: list[float] = []
        try:
            rows = asyncio.run(run(f"http://127.0.0.1:{port}", texts, args.seconds, started, ready))
            peak = Path(f"/proc/{server.pid}/status").read_text().split("VmHWM:")[1].split()[0]
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"machine: {machine()}")
    print(f"server: one uvicorn worker, model {args.model.resolve().name}, SQLite in a temporary folder; "
          f"{args.seconds:.0f} s a level, one comment per request")
    print(f"start-up to ready: {ready[0]:.2f} s (process start, imports, migrations, rules, model); "
          f"peak RSS of the worker: {int(peak) / 1024:.0f} MB")
    print(f"{'clients':>8} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in rows:
        print(f"{r['clients']:>8} {r['requests']:>9} {r['errors']:>7} {r['rps']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}")


if __name__ == "__main__":
    main()
