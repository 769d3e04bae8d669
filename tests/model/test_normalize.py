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
