"""The platform adapters alone (pure functions): what each reads from a documented payload, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.platforms import event_key, meta, plain_text, x, youtube

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_a_replys_parent_text_is_its_threads_top_level_comment() -> None:
    parsed = youtube.parse(load("youtube_comment_threads.json"))
    reply = next(i.submission for i in parsed.items if i.submission.id == "UgzExampleThreadOne4AaABAg.9zReplyOne0001")
    assert reply.parent_text == "When will the lifts at Harbour House be fixed? My mum can't get down the stairs."


def test_youtube_html_text_is_read_as_plain_words_when_the_original_is_withheld() -> None:
    parsed = youtube.parse(load("youtube_comment_threads.json"))
    garden = next(i.submission for i in parsed.items if i.submission.id == "UgyExampleThreadTwo9BbCDEg")
    assert garden.text == "Lovely video, great to see the garden finished!\nWell done all."
    assert plain_text("it&#39;s <a href=\"x\">here</a><br/>now") == "it's here\nnow"


def test_one_youtube_comment_thread_alone_is_read_like_a_list_of_one() -> None:
    answer = load("youtube_comment_threads.json")
    assert isinstance(answer, dict)
    alone = youtube.parse(answer["items"][1])
    assert [i.submission.id for i in alone.items] == ["UgyExampleThreadTwo9BbCDEg"] and not alone.unknown


def test_the_same_words_are_the_same_event_and_new_words_a_new_one() -> None:
    assert event_key("fb", "1_2", "hello") == event_key("fb", "1_2", "hello")
    assert event_key("fb", "1_2", "hello") != event_key("fb", "1_2", "hello!")
    assert event_key("fb", "1_2", "hello") != event_key("ig", "1_2", "hello")


@pytest.mark.parametrize(("created_at", "iso"), [
    ("Mon Nov 30 14:05:12 +0000 2026", "2026-11-30T14:05:12+00:00"),
    ("Wed Oct 10 20:19:24 +0000 2018", "2018-10-10T20:19:24+00:00"),
    ("2026-11-30T14:05:12Z", None),  # not Twitter's format: no time rather than a guess
])
def test_tweet_times_are_read_in_twitters_format(created_at: str, iso: str | None) -> None:
    payload = {"for_user_id": "1", "tweet_create_events": [
        {"id_str": "5", "text": "hello there", "created_at": created_at, "user": {"id_str": "2", "screen_name": "a"}}]}
    posted = x.parse(payload).items[0].submission.posted_at
    assert (posted.isoformat() if posted else None) == iso


@pytest.mark.parametrize(("adapter", "payload", "where"), [
    (meta.parse, {"object": "user", "entry": []}, "body"),
    (meta.parse, [{"object": "page"}], "body"),
    (meta.parse, {"object": "page", "entry": [{"id": "1", "changes": "feed"}]}, "entry[0].changes"),
    (youtube.parse, {"items": []}, "kind"),
    (youtube.parse, {"kind": "youtube#commentThreadListResponse", "items": {}}, "items"),
    (youtube.parse, {"kind": "youtube#commentThread", "snippet": {}}, "body"),
    (x.parse, {"tweet_create_events": []}, "body"),
    (x.parse, {"for_user_id": "1", "tweet_create_events": [{"text": "no id or user"}]}, "tweet_create_events[0]"),
], ids=["meta-object", "meta-list", "meta-changes", "yt-no-kind", "yt-items", "yt-thread", "x-no-user", "x-tweet"])
def test_an_unreadable_payload_names_where_and_what_was_expected(adapter, payload, where) -> None:  # type: ignore[no-untyped-def]
    parsed = adapter(payload)
    assert not parsed.items and [p.where for p in parsed.unknown] == [where]
    assert "expected" in parsed.unknown[0].message or "carries" in parsed.unknown[0].message
