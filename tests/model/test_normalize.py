from __future__ import annotations

import pytest

from model.normalize import normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ascii", "plain ascii"),
        ("ｆｕｌｌ ｗｉｄｔｈ", "full width"),
        ("zero\u200bwidth\u200d joiners\ufeff", "zerowidth joiners"),
        ("fаcebook", "facebook"),  # Cyrillic а
        ("café", "cafe"),
        ("it’s “quoted”", "it's \"quoted\""),
        ("soft\u00adhyphen", "softhyphen"),
    ],
)
def test_when_text_hides_letters_then_normalisation_reveals_them(text: str, expected: str) -> None:
    assert normalize(text).text == expected


def test_when_characters_are_dropped_then_spans_still_point_into_the_original() -> None:
    original = "call ０７７００\u200b９００１２３ now"
    norm = normalize(original)
    start = norm.text.index("07700")
    end = start + len("07700900123")
    s, e = norm.to_original(start, end)
    assert original[s:e] == "０７７００\u200b９００１２３"


def test_when_text_is_ascii_then_it_is_returned_unchanged_without_a_map() -> None:
    norm = normalize("hello there")
    assert norm.origin is None and norm.to_original(0, 5) == (0, 5)


# -- the text as the model reads it (platform-v1), the same in training and serving ----------------
from model.normalize import model_text, text_form  # noqa: E402


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RT @bob: the lift is broken", "the lift is broken"),
        ("@BrookvaleHomes @council @mayor when is the repair", "@user when is the repair"),
        ("@USER you are a disgrace URL", "@user you are a disgrace http"),
        ("still #NoHeating in block C", "still no heating in block C"),
        ("#StillWaitingForRepairs", "still waiting for repairs"),
        ("see https://t.co/AbC123 now", "see http t.co now"),
        ("soooooo fed up!!!!!!", "soo fed up!!"),
        ("love it 😍😍😍😍", "love it smiling face with heart-eyes smiling face with heart-eyes"),
        ("fish &amp; chips", "fish & chips"),
        ("email me at jo@example.com", "email me at jo@example.com"),
        ("ref 1000000 please", "ref 1000000 please"),
    ],
)
def test_platform_furniture_is_folded_into_words_the_model_knows(text: str, expected: str) -> None:
    assert model_text(text) == expected


def test_model_text_is_stable_when_applied_twice() -> None:
    text = "RT @a: @b #NoHeating!!!! https://x.co/1 😡😡😡"
    assert model_text(model_text(text)) == model_text(text)


def test_an_unknown_text_form_is_refused_with_the_known_ones() -> None:
    assert text_form("none") is None and text_form("platform-v1") is model_text
    with pytest.raises(ValueError, match="known: none, platform-v1"):
        text_form("platform-v9")


def _model_text_scanning_every_text(text: str) -> str:
    """model_text as it was before the emoji fast path: emoji.replace_emoji over every text."""
    import model.normalize as module

    saved = module._may_hold_emoji
    module._may_hold_emoji = lambda _text: True
    try:
        return model_text(text)
    finally:
        module._may_hold_emoji = saved


@pytest.mark.parametrize("text", [
    "plain ascii #tag *star* 1234", "keycap one 1\u20e3 and hash #\ufe0f\u20e3",
    "curly quotes \u2019 and \u201cdash\u201d \u2014 caf\u00e9",
    "\u00a9 2026 \u00ae", "heart \u2764\ufe0f and red heart \u2764", "flags \U0001F1EC\U0001F1E7 and skin \U0001F44D\U0001F3FD",
    "zwj family \U0001F468\u200d\U0001F469\u200d\U0001F467", "arrows \u2194 \u21a9 \u231a", "no emoji \u00fc\u00df\u00e7 \u4e2d\u6587",
])
def test_the_emoji_fast_path_prepares_every_text_as_a_full_scan_does(text: str) -> None:
    assert model_text(text) == _model_text_scanning_every_text(text)


def test_the_emoji_fast_path_agrees_with_a_full_scan_on_every_seed_comment() -> None:
    import json
    from pathlib import Path

    texts = [json.loads(line)["text"] for path in sorted(Path("data/seed").glob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(texts) > 1000
    assert [model_text(t) for t in texts] == [_model_text_scanning_every_text(t) for t in texts]
