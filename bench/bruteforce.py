"""Brute force against sign-in and /classify, with the limits off (as before issue 12) and on (the defaults).

    .venv/bin/python bench/bruteforce.py [--attempts 60] [--classify-extra 50] [--redis redis://127.0.0.1:6379/0]

The app runs in-process (Starlette's TestClient: the whole ASGI stack, no sockets) on a fresh SQLite
database in a temporary folder. It fires, as fast as it can:

- wrong passwords at one username from one address;
- wrong passwords at another username from a new address each time (an attacker with many addresses);
- one password sprayed across many usernames from one address;
- /classify requests with one API key until it is refused, then ``--classify-extra`` more.

and prints, for each: attempts checked (the password really tried) or answered, attempts refused with 429,
the Retry-After given, the elapsed time, and what that allows per minute and per day.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.main import create_app  # noqa: E402
from service.db.repository import create_api_key  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.users import create_user  # noqa: E402

PASSWORD = "correct horse battery"
OFF = {"signin_user_limit": "", "signin_ip_limit": "", "classify_key_limit": "", "classify_ip_limit": ""}


def _sign_in(client: TestClient, username: str, password: str) -> tuple[int, str | None]:
    response = client.post("/review/login", data={"username": username, "password": password}, follow_redirects=False)
    return response.status_code, response.headers.get("retry-after")


def _row(name: str, statuses: Counter[int], elapsed: float, retry: str | None, allowed: int, window_s: float | None) -> None:
    checked = statuses[401] + statuses[303] + statuses[200]
    per_min = allowed / (window_s / 60) if window_s else checked / elapsed * 60
    basis = f"{allowed} per {window_s / 60:.0f} min window" if window_s else f"{checked} in {elapsed:.1f} s, unlimited"
    print(f"  {name:44} {sum(statuses.values()):>6} {checked:>8} {statuses[429]:>8} {retry or '-':>12} {elapsed:>7.1f}"
          f" {per_min:>10.1f} {per_min * 60 * 24:>10.0f}   ({basis})")


def run(label: str, overrides: dict[str, str], attempts: int, classify_extra: int, redis: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # A fresh secret each run: the limits' keys are keyed hashes, so a shared Redis gives fresh counters.
        values: dict[str, object] = {"data_dir": tmp, "model_dir": Path(tmp) / "no-model", "secret_key": uuid.uuid4().hex,
                                     "model_poll_seconds": 0, "require_api_key": True, "redis_url": redis, **overrides}
        settings = Settings(**values)  # type: ignore[arg-type]
        app = create_app(settings)
        with TestClient(app) as boot:
            with app.state.session_factory() as session:
                create_user(session, "maria", PASSWORD)
                create_user(session, "sam", PASSWORD)
                _, key = create_api_key(session, "bench", ["classify"])
            user_window = _seconds(settings.signin_user_limit)
            ip_window = _seconds(settings.signin_ip_limit)
            print(f"\n{label}: sign-in {settings.signin_user_limit or 'off'} per username, {settings.signin_ip_limit or 'off'} "
                  f"per address; classify {settings.classify_key_limit or 'off'} per key; storage "
                  f"{'Redis' if redis else 'database (sign-in) and memory (requests)'}")
            print(f"  {'attack':44} {'sent':>6} {'checked':>8} {'refused':>8} {'Retry-After':>12} {'secs':>7} {'per min':>10}"
                  f" {'per day':>10}")

            one = TestClient(app, client=("203.0.113.9", 50000))
            statuses, retry, start = Counter[int](), None, time.perf_counter()
            for n in range(attempts):
                code, after = _sign_in(one, "maria", f"wrong guess {n}")
                statuses[code] += 1
                retry = after or retry
            code, _ = _sign_in(TestClient(app, client=("198.51.100.1", 50000)), "maria", PASSWORD)
            _row("one username, one address", statuses, time.perf_counter() - start, retry,
                 _amount(settings.signin_user_limit), user_window)
            print(f"  {'':44} then the right password from a fresh address: {code} "
                  f"({'refused: locked out' if code == 429 else 'signed in'})")

            statuses, retry, start = Counter[int](), None, time.perf_counter()
            for n in range(attempts):
                client = TestClient(app, client=(f"198.18.{n // 250}.{n % 250 + 1}", 50000))
                code, after = _sign_in(client, "sam", f"other wrong guess {n}")
                statuses[code] += 1
                retry = after or retry
            _row("another username, a new address each attempt", statuses, time.perf_counter() - start, retry,
                 _amount(settings.signin_user_limit), user_window)

            spray = TestClient(app, client=("203.0.113.50", 50000))
            statuses, retry, start = Counter[int](), None, time.perf_counter()
            for n in range(attempts):
                code, after = _sign_in(spray, f"user{n}", "Spring2026spring")
                statuses[code] += 1
                retry = after or retry
            _row("many usernames, one address (spraying)", statuses, time.perf_counter() - start, retry,
                 _amount(settings.signin_ip_limit), ip_window)

            limit = _amount(settings.classify_key_limit) or 500
            statuses, retry, start, first_refused = Counter[int](), None, time.perf_counter(), None
            for n in range(limit + classify_extra):
                # the lifespan's client: /classify's batcher runs on its event loop
                response = boot.post("/classify", json={"text": f"hello there {n}"}, headers={"X-API-Key": key})
                statuses[response.status_code] += 1
                if response.status_code == 429 and first_refused is None:
                    first_refused, retry = n, response.headers.get("retry-after")
            elapsed = time.perf_counter() - start
            answered = statuses[200]
            window = _seconds(settings.classify_key_limit)
            per_min = _amount(settings.classify_key_limit) / (window / 60) if window else answered / elapsed * 60
            print(f"  {'classify, one key':44} {sum(statuses.values()):>6} {answered:>8} {statuses[429]:>8} {retry or '-':>12}"
                  f" {elapsed:>7.1f} {per_min:>10.0f} {per_min * 60 * 24:>10.0f}   "
                  f"(first refused: request {first_refused + 1 if first_refused is not None else '-'}; "
                  f"{answered / elapsed:.0f} req/s answered while under the limit)")


def _amount(spec: str) -> int:
    from limits import parse

    return parse(spec).amount if spec else 0


def _seconds(spec: str) -> float | None:
    from limits import parse

    return float(parse(spec).get_expiry()) if spec else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=60, help="sign-in attempts in each attack")
    parser.add_argument("--classify-extra", type=int, default=50, help="classify requests sent past the key's limit")
    parser.add_argument("--redis", default="", help="a Redis URL for the limits' storage (default: none)")
    args = parser.parse_args()
    run("limits off (as before issue 12)", OFF, min(args.attempts, 50), 0, args.redis)
    run("limits on (the defaults)", {}, args.attempts, args.classify_extra, args.redis)


if __name__ == "__main__":
    main()
