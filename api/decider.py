"""Decide and store, for every door a comment comes in by over HTTP.

``POST /classify``, the Perspective-compatible endpoint, Coral's external moderation and the platforms'
webhooks all turn what they received into :class:`service.comments.Submission` items and call
:meth:`Decider.run`: the model and the rules through the micro-batcher, the policy in the same worker-thread
call right after the model (one hop off the event loop per batch), the rows through the durable store.
Each door then shapes the answer its caller's protocol expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from api.batcher import MicroBatcher
from api.deps import AuthorSecretDep, BatcherDep, HistoryDep, MetricsDep, PolicyDep, StoreDep
from api.metrics import Metrics
from api.storage import DurableStore, Stored
from model.policy.engine import PolicyEngine
from model.result import Classification
from service.comments import Decided, HistoryScope, Submission, decide, no_history, rows
from service.db.offences import history_scope
from service.events import Subscribers


@dataclass(frozen=True, slots=True)
class Outcome:
    """One comment decided, and whether its rows are in the database (``None``: not kept, as asked)."""

    decided: Decided
    stored: Stored | None


@dataclass(frozen=True, slots=True)
class Decider:
    batcher: MicroBatcher
    store: DurableStore
    policy: PolicyEngine
    metrics: Metrics
    secret: bytes
    history: HistoryScope
    model_expected: bool
    events: Subscribers | None = None  # the subscribers told of each classification (service.events)

    async def run(self, items: Sequence[Submission], *, keep: bool = True,
                  record_ids: Sequence[str] | None = None) -> list[Outcome]:
        """Classify, decide and (unless ``keep`` is false) store ``items``, in order.

        None of it blocks the event loop: concurrent requests share one model call and one commit. A request
        is answered once its rows are committed, or, when the database cannot take them, kept in the durable
        outbox (``stored="pending"``). With ``keep=False`` nothing about the comments is written anywhere:
        not the text, not its hash, not a removal against the author, not an entry in the model's score cache
        (Perspective's ``doNotStore``). ``record_ids`` fixes the records' ids (the platform webhooks derive them
        from the platform's own ids, so the same event can never be stored twice)."""
        then = partial(self._decide, items, self.history if keep else no_history)
        decided = await self.batcher.run([item.text for item in items], then, remember=keep)
        self.metrics.observe([d.result for d in decided], model_expected=self.model_expected)
        if record_ids is not None:
            decided = [replace(d, record_id=rid) for d, rid in zip(decided, record_ids, strict=True)]
        if not keep:
            return [Outcome(d, None) for d in decided]
        stored = await self.store.save(rows(decided, events=self.events))
        return [Outcome(d, stored) for d in decided]

    def _decide(self, items: Sequence[Submission], history: HistoryScope, results: list[Classification]) -> list[Decided]:
        return decide(self.policy, items, results, secret=self.secret, history=history)


async def get_decider(request: Request, batcher: BatcherDep, store: StoreDep, policy: PolicyDep, metrics: MetricsDep,
                      secret: AuthorSecretDep, history: HistoryDep) -> Decider:
    return Decider(batcher, store, policy, metrics, secret, history, request.app.state.model_expected,
                   request.app.state.subscribers)


DeciderDep = Annotated[Decider, Depends(get_decider)]


def app_decider(app: FastAPI) -> Decider:
    """The same decider outside a request, from the app's own parts (the YouTube poller in the lifespan)."""
    state = app.state
    return Decider(state.batcher, state.store, state.policy, state.metrics, state.author_secret,
                   history_scope(state.session_factory), state.model_expected, state.subscribers)
