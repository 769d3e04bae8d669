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
