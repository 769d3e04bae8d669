"""Is every rule linear in its input? Each rule's time on inputs built to be slow, at 2,500, 5,000 and
10,000 characters (the longest comment allowed), with the growth from 5,000 to 10,000 (2.0 is linear,
4.0 quadratic). Also what the pipeline's rules budget does to the slowest of them.

    .venv/bin/python bench/rules_worst.py [--rounds 3]

Prints what it measured; asserts nothing (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine  # noqa: E402

# Repeated units that make a detector do the most work per character: names on the roster, digit groups
# (the phone matcher), links, handles, swearing in capitals, postcodes, card-like numbers, quotes.
UNITS = {
    "first names": "Tom ", "full names": "Tom Smith ", "digit pairs": "0 ", "digit runs": "07700", "handles": "@a ",
    "links": "http://x.co/ ", "one letter": "a", "dots": "a.", "email-like": "a@b.", "caps swearing": "FUCK ",
    "hashtags": "#tag ", "mixed": "call me 07700 900123 @bob http://bit.ly/x ", "whitespace": " \t",
    "money": "£1,000 ", "threat words": "kill u ", "postcodes": "SW1A 1AA ", "card groups": "4111 ",
    "emoji": "\U0001f600", "repeated words": "you you ", "dashes": "-", "possessives": "'s ",
}
SIZES = (2_500, 5_000, 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs per cell")
    args = parser.parse_args()

    from model.normalize import normalize
    from model.pipeline import RULES_BUDGET_SECONDS, Pipeline
    from model.rules.engine import RulesEngine

    engine = RulesEngine.from_dir(staff_roster=REPO / "data" / "staff_roster.txt")
    print(f"machine: {machine()}")
    print(f"{'input':16s} " + " ".join(f"{n:>8d}" for n in SIZES) + "  growth  slowest rule at 10,000")
    worst_growth, slowest = 0.0, ("", 0.0)
    for name, unit in UNITS.items():
        totals, per_rule = [], {}
        for n in SIZES:
            text = normalize((unit * (n // len(unit) + 1))[:n]).text
            per_rule = {}
            for rule in engine.rules:
                best = min(_timed(rule, text) for _ in range(args.rounds))
                per_rule[rule.name] = best
            totals.append(sum(per_rule.values()))
        growth = totals[2] / max(totals[1], 1e-9)
        top = max(per_rule, key=per_rule.__getitem__)
        worst_growth = max(worst_growth, growth)
        if totals[2] > slowest[1]:
            slowest = (name, totals[2])
        print(f"{name:16s} " + " ".join(f"{t * 1000:7.1f}ms" for t in totals) + f"  {growth:5.2f}  {top} {per_rule[top] * 1000:.1f} ms")
    print(f"largest growth 5,000 -> 10,000 characters: {worst_growth:.2f} (2.0 = linear)")

    name, unbudgeted = slowest
    text = (UNITS[name] * (10_000 // len(UNITS[name]) + 1))[:10_000]
    pipeline = Pipeline(engine, rules_budget=RULES_BUDGET_SECONDS)
    started = time.perf_counter()
    result = pipeline.classify(text)
    spent = time.perf_counter() - started
    print(f"slowest input ({name!r}, 10,000 characters): rules alone {unbudgeted * 1000:.0f} ms unbudgeted; whole pipeline with "
          f"the default budget ({RULES_BUDGET_SECONDS * 1000:.0f} ms) {spent * 1000:.0f} ms, needs_review={result.needs_review}: "
          f"{result.review_reasons[0] if result.review_reasons else '-'}")


def _timed(rule: object, text: str) -> float:
    started = time.perf_counter()
    rule.find(text)  # type: ignore[attr-defined]
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
