"""YouTube Data API comments: ``commentThreads`` resources, as ``commentThreads.list`` answers them.

YouTube does not push comments; sift reads what a poller fetched (``POST /webhooks/youtube``, or the file or URL
of ``SIFT_YOUTUBE_POLL_SOURCE``). Shapes (developers.google.com/youtube/v3/docs/commentThreads and …/comments):

- ``youtube#commentThreadListResponse`` ``{"items": [commentThread, …]}``, or one ``youtube#commentThread``:
  ``snippet {channelId, videoId, topLevelComment}`` and ``replies {comments: [comment, …]}``;
- ``youtube#commentListResponse`` or one ``youtube#comment`` (``comments.list``, e.g. a thread's replies).

A comment: ``id``, ``snippet {authorDisplayName, authorChannelId {value}, textOriginal, textDisplay, parentId,
publishedAt, updatedAt, videoId}``. ``textOriginal`` is only returned to some callers, so ``textDisplay`` (HTML
by default) is read as plain text when it is missing. A reply's parent is the thread's top-level comment, whose
words come with it; a top-level comment's parent is the video.
"""

from __future__ import annotations

from typing import Any

from service.platforms import Parsed, comment, member, plain_text, string_id, text_or_none

KINDS = ("youtube#commentThreadListResponse", "youtube#commentThread", "youtube#commentListResponse", "youtube#comment")


def watch_url(video_id: str | None, comment_id: str) -> str | None:
    """The comment on its video's page: ``watch?v=<video>&lc=<comment>`` (the link YouTube's own "copy link" on a
    comment gives); None for a comment on no video."""
    return f"https://www.youtube.com/watch?v={video_id}&lc={comment_id}" if video_id else None


def parse(payload: Any) -> Parsed:
    parsed = Parsed()
    kind = payload.get("kind") if isinstance(payload, dict) else None
    if kind not in KINDS:
        parsed.problem("kind", f"expected a YouTube Data API resource whose kind is one of {list(KINDS)}; got "
                               + (f"kind {kind!r}" if isinstance(payload, dict) else f"a JSON {type(payload).__name__}"))
        return parsed
    if kind.endswith("ListResponse"):
        items = payload.get("items")
        if not isinstance(items, list):
            parsed.problem("items", f"a {kind} carries its resources in items (a list)")
            return parsed
        for i, item in enumerate(items):
            (_thread if kind == "youtube#commentThreadListResponse" else _comment)(parsed, f"items[{i}]", item)
    else:
        (_thread if kind == "youtube#commentThread" else _comment)(parsed, "body", payload)
    return parsed


def _thread(parsed: Parsed, where: str, thread: Any) -> None:
    snippet = thread.get("snippet") if isinstance(thread, dict) else None
    top = snippet.get("topLevelComment") if isinstance(snippet, dict) else None
    if not isinstance(top, dict) or (isinstance(thread, dict) and thread.get("kind", "youtube#commentThread") != "youtube#commentThread"):
        parsed.problem(where, "a youtube#commentThread carries snippet.topLevelComment (a youtube#comment)")
        return
    assert isinstance(snippet, dict) and isinstance(thread, dict)
    video, owner = string_id(snippet.get("videoId")), string_id(snippet.get("channelId"))
    top_text = _comment(parsed, f"{where}.snippet.topLevelComment", top, video=video, owner=owner)
    raw = thread.get("replies", {})
    replies = raw.get("comments", []) if isinstance(raw, dict) else None
    if not isinstance(replies, list):
        parsed.problem(f"{where}.replies", "a thread's replies are {\"comments\": [youtube#comment, ...]}")
        return
    for i, reply in enumerate(replies):
        _comment(parsed, f"{where}.replies.comments[{i}]", reply, video=video, owner=owner,
                 parent=string_id(top.get("id")), parent_text=top_text)


def _comment(parsed: Parsed, where: str, resource: Any, *, video: str | None = None, owner: str | None = None,
             parent: str | None = None, parent_text: str | None = None) -> str | None:
    """Add one comment resource; returns its words (a reply's parent text) or None."""
    snippet = resource.get("snippet") if isinstance(resource, dict) else None
    comment_id = string_id(resource.get("id")) if isinstance(resource, dict) else None
    if not isinstance(snippet, dict) or comment_id is None or resource.get("kind", "youtube#comment") != "youtube#comment":
        parsed.problem(where, "a youtube#comment carries id and snippet")
        return None
    text = text_or_none(snippet.get("textOriginal"))
    if text is None and isinstance(snippet.get("textDisplay"), str):
        text = text_or_none(plain_text(snippet["textDisplay"]))
    if text is None:
        parsed.ignored.append(f"{where}: a comment without words")
        return None
    author = member(snippet, "authorChannelId")
    author_id = string_id(author.get("value"))
    video = video or string_id(snippet.get("videoId"))
    if owner is not None and author_id == owner:
        parsed.ignored.append(f"{where}: the channel's own comment")
        return text
    comment(parsed, where, "yt", text=text, channel="youtube", author_id=author_id, id=comment_id,
            posted_at=snippet.get("publishedAt"), url=watch_url(video, comment_id),
            parent_id=parent or string_id(snippet.get("parentId")) or video, parent_text=parent_text)
    return text
