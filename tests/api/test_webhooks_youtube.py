"""YouTube comments: commentThreads answers POSTed with an API key, or polled from a file or a URL on a timer;
a comment read again is decided once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.inbound import Ingested
from api.youtube_poll import PollError, fetch, poll_once
from service.db.repository import create_api_key
from tests.api.platforms import ClassificationRecord, InboundEvent, count, fixture, kept, platform_client, records

THREADS = "youtube_comment_threads.json"


def test_comment_threads_are_decided_with_the_top_level_comment_as_a_replys_parent(tmp_path: Path) -> None:
    body = fixture(THREADS)
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/youtube", content=body, headers={"Content-Type": "application/json"})
        stored = {r.external_id: r for r in records(client, "youtube")}
    assert answer.status_code == 200, answer.text
    assert answer.json()["decided"] == 3 and answer.json()["ignored"] == ["items[0].replies.comments[1]: the channel's own comment"]
    top, reply = stored["UgzExampleThreadOne4AaABAg"], stored["UgzExampleThreadOne4AaABAg.9zReplyOne0001"]
    assert top.parent_id == "dQexample01"  # the video
    assert top.url == "https://www.youtube.com/watch?v=dQexample01&lc=UgzExampleThreadOne4AaABAg"
    assert top.posted_at is not None and top.posted_at.isoformat() == "2026-11-30T09:15:00+00:00"
    assert reply.parent_id == "UgzExampleThreadOne4AaABAg"
    # The parent's words came with the reply; kept, like the comment's own, only while a moderator needs them.
    parent_words = "When will the lifts at Harbour House be fixed? My mum can't get down the stairs."
    assert reply.parent_text == (parent_words if reply.needs_review else None)
    assert reply.author_hash is not None and reply.author_hash != top.author_hash


def test_a_thread_posted_again_is_already_seen(tmp_path: Path) -> None:
    body = fixture(THREADS)
    with platform_client(tmp_path) as client:
        answers = [client.post("/webhooks/youtube", content=body).json() for _ in range(2)]
        stored = count(client, ClassificationRecord)
    assert [(a["decided"], a["already_seen"]) for a in answers] == [(3, 0), (0, 3)]
    assert stored == 3


def test_posting_needs_a_classify_key_when_keys_are_required(tmp_path: Path) -> None:
    body = fixture(THREADS)
    with platform_client(tmp_path, require_api_key=True) as client:
        with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
            key = create_api_key(session, "poller", ["classify"])[1]
            review = create_api_key(session, "moderator", ["review"])[1]
        refused = client.post("/webhooks/youtube", content=body)
        wrong = client.post("/webhooks/youtube", content=body, headers={"X-API-Key": review})
        taken = client.post("/webhooks/youtube", content=body, headers={"X-API-Key": key})
    assert (refused.status_code, wrong.status_code, taken.status_code) == (401, 403, 200)


def test_a_resource_that_is_not_comments_is_refused_and_kept(tmp_path: Path) -> None:
    body = fixture("youtube_video_list.json")
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/youtube", content=body)
        rows = kept(client)
    assert answer.status_code == 422 and "youtube#videoListResponse" in answer.json()["details"][0]["message"]
    assert [(r.id, r.platform, r.body) for r in rows] == [(answer.json()["kept"], "youtube", body)]


def _poll(client: TestClient, source: str) -> Ingested:
    """One poll, in the app's own event loop (where its batcher and writer run)."""
    assert client.portal is not None
    return client.portal.call(partial(poll_once, client.app, source))  # type: ignore[arg-type, call-arg]


def _wait_for(client: TestClient, rows: int, seconds: float = 20.0) -> int:
    deadline = time.monotonic() + seconds
    while (found := count(client, InboundEvent, status="decided")) < rows and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_the_poller_reads_a_file_at_start_up_and_decides_nothing_twice(tmp_path: Path) -> None:
    source = tmp_path / "threads.json"
    source.write_bytes(fixture(THREADS))
    with platform_client(tmp_path, youtube_poll_source=str(source), youtube_poll_seconds=3600) as client:
        assert _wait_for(client, 3) == 3  # the lifespan's first poll
        again = _poll(client, str(source))
        stored = count(client, ClassificationRecord)
    assert (len(again.decided), len(again.seen), stored) == (0, 3, 3)


@pytest.fixture
def http_source(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder holding the poller's answer (no internet in tests)."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "threads.json").write_bytes(fixture(THREADS))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/threads.json", folder
    server.shutdown()
    server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def test_the_poller_reads_a_url_and_a_new_reply_on_the_next_poll_is_the_only_one_decided(
        tmp_path: Path, http_source: tuple[str, Path]) -> None:
    url, folder = http_source
    with platform_client(tmp_path, youtube_poll_source=url, youtube_poll_seconds=3600) as client:
        assert _wait_for(client, 3) == 3
        answer = json.loads(fixture(THREADS))
        new_reply = json.loads(json.dumps(answer["items"][0]["replies"]["comments"][0]))
        new_reply["id"] = "UgzExampleThreadOne4AaABAg.9zReplyThree003"
        new_reply["snippet"].update(textOriginal="Still broken this morning.", textDisplay="Still broken this morning.",
                                    authorChannelId={"value": "UCexampleTenant00000000E"})
        answer["items"][0]["replies"]["comments"].append(new_reply)
        (folder / "threads.json").write_text(json.dumps(answer), encoding="utf-8")
        polled = _poll(client, url)
        stored = count(client, ClassificationRecord)
    assert [item.submission.id for item, _ in polled.decided] == ["UgzExampleThreadOne4AaABAg.9zReplyThree003"]
    assert (len(polled.seen), stored) == (3, 4)


def test_a_source_that_cannot_be_read_says_so_without_its_contents(tmp_path: Path) -> None:
    with pytest.raises(PollError, match="could not be read"):
        fetch(str(tmp_path / "missing.json"))
    with pytest.raises(PollError, match="could not be read") as refused:
        fetch("http://127.0.0.1:9/threads.json?key=secret")  # the discard port: nothing listens
    assert "secret" not in str(refused.value)


def test_a_poll_source_that_is_neither_a_url_nor_a_file_fails_at_start_up(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from tests.api.conftest import make_settings

    with pytest.raises(ValidationError, match="SIFT_YOUTUBE_POLL_SOURCE"):
        make_settings(tmp_path, youtube_poll_source=str(tmp_path / "nowhere.json"))
