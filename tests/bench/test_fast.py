"""bench/fast.py's pure parts: the Poisson schedule, the verdicts, the worker counts and the text mix.
Speed is never asserted here: the benchmark prints figures, these check how it computes them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.fast import Row, _workers_arg, check, poisson_schedule, real_texts


def test_poisson_schedule_is_increasing_within_the_window_and_near_rate_times_seconds() -> None:
    times = poisson_schedule(200, 10, seed=1)
    assert times == sorted(times)
    assert all(0 < t < 10 for t in times)
    assert 1800 < len(times) < 2200  # mean 2,000; a standard deviation is about 45


def test_poisson_schedule_gaps_average_one_over_the_rate() -> None:
    times = poisson_schedule(50, 200, seed=2)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 50, rel=0.05)


def test_poisson_schedule_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    assert poisson_schedule(30, 5, seed=3) == poisson_schedule(30, 5, seed=3)
    assert poisson_schedule(30, 5, seed=3) != poisson_schedule(30, 5, seed=4)


@pytest.mark.parametrize(("rate", "seconds"), [(0, 5), (-1, 5), (10, 0)])
def test_poisson_schedule_refuses_a_rate_or_length_that_is_not_positive(rate: float, seconds: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        poisson_schedule(rate, seconds)


@pytest.mark.parametrize(("value", "limit", "at_least", "verdict"), [
    (1.5, 1.5, True, "pass"), (1.49, 1.5, True, "miss"), (0.9, 0.9, False, "pass"), (0.91, 0.9, False, "miss"),
    (0, 0, False, "pass"), (1, 0, False, "miss"), (None, 0.8, True, "n/a"),
])
def test_check_passes_on_the_target_side_of_the_limit_including_the_limit_itself(
        value: float | None, limit: float, at_least: bool, verdict: str) -> None:
    assert check(value, limit, at_least) == verdict
    assert Row("t", "m", value, limit, at_least).verdict == verdict


def test_workers_are_read_from_a_comma_separated_list() -> None:
    assert _workers_arg("1,2,4") == [1, 2, 4]


@pytest.mark.parametrize("value", ["", "0", "one", "1,-2"])
def test_bad_worker_counts_are_refused_with_an_example(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--workers"):
        _workers_arg(value)


def test_real_texts_deal_the_sources_round_robin_and_skip_a_set_that_is_not_there(tmp_path: Path) -> None:
    (tmp_path / "olid").mkdir()
    (tmp_path / "olid" / "olid-training-v1.0.tsv").write_text("id\ttweet\tsubtask_a\n1\tfirst tweet\tNOT\n2\tsecond\tOFF\n"
                                                             "3\t   \tNOT\n", encoding="utf-8")
    (tmp_path / "banking77").mkdir()
    (tmp_path / "banking77" / "train.csv").write_text("text,category\nwhere is my card?,card_arrival\n", encoding="utf-8")
    texts, counts = real_texts(tmp_path, 6)
    assert len(texts) == 6
    assert counts == {"seed comments (data/seed)": 3, "OLID tweets (olid tsv, tweet)": 2, "BANKING77 queries (banking77 text)": 1}
    assert set(texts[:3]) >= {"where is my card?"}  # the first deal takes one text from each source
    assert "   " not in texts  # a blank text the API would refuse is left out
