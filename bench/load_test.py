"""HTTP load test against a sift server on 127.0.0.1, at 1, 20 and 100 concurrent clients.

    .venv/bin/python bench/load_test.py [--seconds 10] [--model var/models/current] [--profile]

With ``--profile`` (needs ``pip install py-spy``) the server is sampled during the 20-client
level and the busy time is split by stage (HTTP, validation, model, rules, policy, database...).

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


def _workers(pid: int) -> list[int]:
    """The serving processes: uvicorn's worker children when there are several, else the process itself."""
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    workers = [c for c in children if "multiprocessing" not in Path(f"/proc/{c}/cmdline").read_text()
               or "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    return workers or [pid]


def _peak_rss_kb(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def level(url: str, texts: list[str], clients: int, seconds: float, max_requests: int) -> dict[str, float]:
    """``clients`` concurrent clients, each sending its next comment when the last is answered, for ``seconds``.

    The client is aiohttp: httpx's connection pool itself slowed to about 80 requests/s at 100
    connections on these two cores, which measured the client rather than the server."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    sent = 0
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url=url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        async def one_client(offset: int) -> None:
            nonlocal errors, sent
            i = offset
            while time.perf_counter() < stop and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    async with client.post("/classify", json={"text": texts[i % len(texts)]}) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                latencies.append((time.perf_counter() - t0) * 1000)
                i += clients

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"clients": clients, "requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


# Stage of a sampled stack: the first of these found, reading from the innermost frame outwards.
STAGES = [
    ("model: ONNX Runtime", ("onnxruntime_inference_collection.py",)),
    ("model: tokenise and pad", ("model/encoding.py",)),
    ("rules", ("model/rules/",)),
    ("normalise", ("model/normalize.py",)),
    ("database write and commit", ("sqlalchemy/", "service/db/")),
    ("policy and deadlines", ("model/policy/",)),
    ("pipeline: merge, evidence, redact", ("model/pipeline.py",)),
    ("response model and JSON", ("api/routes/classify.py", "fastapi/routing.py:serialize", "pydantic")),
    ("request: validation, auth, deps", ("fastapi/dependencies/", "api/deps.py", "api/auth.py")),
    ("metrics", ("prometheus_client/", "api/metrics.py")),
    ("HTTP server and event loop", ("uvicorn/", "starlette/", "h11", "httptools", "asyncio/", "anyio/", "fastapi/")),
]


# Innermost frames that mean "waiting", which py-spy does not always recognise as idle: a worker thread
# parked on its queue, and uvloop's event loop (C code under Runner.run) waiting for sockets.
IDLE = ("Condition.wait (threading.py", "Runner.run (asyncio/runners.py", "Event.wait (threading.py")


def summarise_profile(raw: Path, requests: int, rate: int) -> None:
    """Busy samples per stage from py-spy's raw (collapsed) output."""
    counts: dict[str, int] = {}
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")[::-1]
        if frames[0].startswith(IDLE):
            idle += int(n)
            continue
        stage = next((name for frame in frames for name, keys in STAGES if any(k in frame for k in keys)), "other Python")
        counts[stage] = counts.get(stage, 0) + int(n)
        total += int(n)
    if not total:
        print("profile: no samples (is py-spy allowed to attach?)")
        return
    print(f"\nwhere the server's threads spend their busy time at 20 clients (py-spy, {total} busy samples at {rate}/s, "
          f"{idle} idle ones left out; "
          "a thread waiting for the GIL counts as busy where it waits, so Python stages include their queueing "
          "for the GIL; ONNX Runtime's threads run without it):")
    for stage, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:36} {100 * n / total:5.1f}%   {n / rate * 1000 / max(requests, 1):6.2f} ms of thread time a request")


async def run(url: str, texts: list[str], seconds: float, started: float, ready: list[float],
              profile: tuple[int, Path, str] | None = None) -> list[dict[str, float]]:
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
    rows = []
    for clients in (1, 20, 100):
        spy = None
        if profile and clients == 20:
            spy = subprocess.Popen([profile[2], "record", "--pid", str(profile[0]), "--subprocesses", "--rate", "200",
                                    "--format", "raw",
                                    "--duration", str(int(seconds)), "--nonblocking", "-o", str(profile[1])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows.append(await level(url, texts, clients, seconds, 50_000))
        if spy:
            spy.wait(timeout=seconds + 30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--model", type=Path, default=REPO / "var" / "models" / "current")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (sift serve --workers)")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy at 20 clients")
    args = parser.parse_args()
    texts = load_comments()
    port = _free_port()
    spy = None
    if args.profile:
        import shutil

        spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        if spy is None:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SIFT_DATA_DIR": tmp, "SIFT_MODEL_DIR": str(args.model.resolve()), "SIFT_LOG_LEVEL": "WARNING",
               "SIFT_MODEL_POLL_SECONDS": "0",
               "SIFT_CLASSIFY_IP_LIMIT": "1000000/minute",  # counted (its cost is in the figures) but never reached
               "SIFT_MODEL_CACHE": "0"}  # texts repeat after 2,197 requests: no cache, so every request is scored
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", str(args.workers)],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready: list[float] = []
        raw = REPO / "var" / "bench" / "profile-20-clients.txt"  # py-spy's collapsed stacks, kept for a flame graph
        raw.parent.mkdir(parents=True, exist_ok=True)
        if spy:
            raw.unlink(missing_ok=True)
        try:
            rows = asyncio.run(run(f"http://127.0.0.1:{port}", texts, args.seconds, started, ready,
                                   (server.pid, raw, spy) if spy else None))
            peak = max(_peak_rss_kb(pid) for pid in _workers(server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"machine: {machine()}")
    print(f"server: {args.workers} uvicorn worker(s), model {args.model.resolve().name}, SQLite in a temporary folder; "
          f"{args.seconds:.0f} s a level, one comment per request")
    print(f"start-up to ready: {ready[0]:.2f} s (process start, imports, migrations, rules, model); "
          f"peak RSS of a worker: {peak / 1024:.0f} MB")
    print(f"{'clients':>8} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in rows:
        print(f"{r['clients']:>8} {r['requests']:>9} {r['errors']:>7} {r['rps']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}")
        if args.profile and r["clients"] == 20 and raw.exists():
            summarise_profile(raw, int(r["requests"]), 200)


if __name__ == "__main__":
    main()
