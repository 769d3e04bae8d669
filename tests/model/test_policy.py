"""Every action in the default policy, routing, priority, templates, repeat offenders and a moderator clearing a post."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from model.pipeline import Pipeline
from model.policy.config import ACTIONS, PolicyError, load_policy
from model.policy.engine import PolicyEngine
from model.policy.history import MemoryHistory, Offence

WEDNESDAY_10 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(load_policy())


def decide(engine: PolicyEngine, pipeline: Pipeline, text: str, **kw):  # type: ignore[no-untyped-def]
    return engine.decide(pipeline.classify(text), text, posted_at=kw.pop("posted_at", WEDNESDAY_10), **kw)


@pytest.mark.parametrize(
    ("text", "actions", "route", "priority"),
    [
        ("call me back on 07700 900123 about my boiler", ["delete_post", "private_message"], "Communications", "high"),
        ("I'm at work 8-6 so the house is empty if the plumber comes", ["delete_post", "private_message"], "Communications", "high"),
        ("Dave Wilson never turned up again", ["delete_post", "private_message", "raise_with_customer_experience"],
         "Communications", "high"),  # removed for naming staff, and still a complaint to raise
        ("I'll smash the office up", ["remove_post", "report_to_platform", "private_message"], "Communications", "urgent"),
        ("go back where you came from", ["remove_post", "report_to_platform", "private_message"], "Communications", "urgent"),
        ("useless sh1te service", ["remove_post", "private_message"], "Communications", "high"),
        ("verify your account at faceb00k-help.com", ["remove_post", "block_author"], "Communications", "medium"),
        ("Waited in all day, nobody turned up", ["raise_with_customer_experience", "public_reply"], "Customer Experience", "medium"),
        ("How do I report a repair online?", ["answer_publicly"], "Communications", "normal"),
        ("Another rent increase. Typical.", ["public_reply"], "Communications", "normal"),
        ("Huge thanks to the repairs team", ["raise_with_customer_experience"], "Customer Experience", "low"),
        ("I can smell gas in the hallway", ["escalate_emergency", "public_reply", "raise_with_customer_experience"],
         "Customer Experience", "urgent"),
        ("Happy Christmas everyone!", [], None, "low"),
    ],
)
def test_each_kind_of_comment_gets_the_guides_actions(engine: PolicyEngine, pipeline: Pipeline, text: str, actions: list[str],
                                                      route: str | None, priority: str) -> None:
    decision = decide(engine, pipeline, text)
    assert [a.action for a in decision.actions] == actions
    assert decision.route_to == route and decision.priority == priority
    for action in decision.actions:
        assert action.guide and action.reason


def test_every_action_of_the_default_policy_is_exercised_above() -> None:
    used = {a.do for r in load_policy().rules for a in r.actions}
    assert used <= set(ACTIONS) and used >= set(ACTIONS) - {"block_author"}


def test_a_query_that_is_not_simple_gets_a_holding_reply(engine: PolicyEngine, pipeline: Pipeline) -> None:
    text = ("Can someone tell me why my rent account shows arrears when I have paid every month by direct debit, "
            "I have the bank statements and nobody answers the phone, this has been going on since August?")
    decision = decide(engine, pipeline, text)
    assert "public_reply" in [a.action for a in decision.actions]
    assert "holding_reply" in decision.reply_templates and "answer_publicly" not in [a.action for a in decision.actions]


def test_templates_are_filled_for_the_channel_and_echo_nothing_personal(engine: PolicyEngine, pipeline: Pipeline) -> None:
    text = "call me on 07700 900123 or jo@example.com"
    twitter = decide(engine, pipeline, text, channel="twitter").reply_templates["pii_removed"]
    facebook = decide(engine, pipeline, text, channel="facebook").reply_templates["pii_removed"]
    assert twitter != facebook and "DM us" in twitter
    for body in (twitter, facebook):
        assert "hello@brookvalehousing.org.uk" in body and "07700" not in body and "jo@example.com" not in body
        assert "{" not in body


def test_query_deadlines_are_two_and_four_working_hours(engine: PolicyEngine, pipeline: Pipeline) -> None:
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    sla = decide(engine, pipeline, "is the office open on bank holidays?", posted_at=friday).sla
    assert sla is not None
    assert sla.acknowledge_by == "2026-11-30T10:30:00+00:00" and sla.respond_by == "2026-11-30T12:30:00+00:00"
    assert sla.in_office_hours and not sla.out_of_hours_cover


def test_a_negative_comment_at_the_weekend_is_due_first_thing_monday(engine: PolicyEngine, pipeline: Pipeline) -> None:
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    sla = decide(engine, pipeline, "Another rent increase. Typical.", posted_at=saturday).sla
    assert sla is not None and sla.acknowledge_by == "2026-11-30T09:00:00+00:00"
    assert any("first thing" in n for n in sla.notes)
    both = decide(engine, pipeline, "Waited in all day, nobody turned up. Typical.", posted_at=saturday).sla
    assert both is not None and both.acknowledge_by == "2026-11-30T09:00:00+00:00"  # a complaint too: still first thing


def test_an_emergency_out_of_hours_says_cover_applies(engine: PolicyEngine, pipeline: Pipeline) -> None:
    night = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    decision = decide(engine, pipeline, "water pouring through the ceiling onto the electrics", posted_at=night)
    assert decision.emergency == "flood" and decision.priority == "urgent"
    assert decision.sla is not None and decision.sla.out_of_hours_cover and not decision.sla.in_office_hours
    assert any("out-of-hours cover applies" in n for n in decision.sla.notes)


def test_no_heating_is_an_emergency_only_with_someone_vulnerable(engine: PolicyEngine, pipeline: Pipeline) -> None:
    assert decide(engine, pipeline, "no heating and my baby is 3 weeks old").emergency == "no_heat_vulnerable"
    assert decide(engine, pipeline, "no heating again this week").emergency is None


def test_repeat_offender_is_blocked_at_the_third_removal_in_the_window(engine: PolicyEngine, pipeline: Pipeline) -> None:
    history = MemoryHistory()
    text = "you w@nkers"
    first = decide(engine, pipeline, text, author_hash="a1", history=history)
    assert "block_author" not in [a.action for a in first.actions] and first.removal_reasons == ["abusive"]
    history.add("a1", Offence(WEDNESDAY_10 - timedelta(days=40), "abusive", "old"))  # outside the 30-day window
    history.add("a1", Offence(WEDNESDAY_10 - timedelta(days=10), "abusive", "r1"))
    second = decide(engine, pipeline, text, author_hash="a1", history=history)
    assert "block_author" not in [a.action for a in second.actions]
    history.add("a1", Offence(WEDNESDAY_10 - timedelta(days=2), "staff_named", "r2"))
    third = decide(engine, pipeline, text, author_hash="a1", history=history)
    block = next(a for a in third.actions if a.action == "block_author")
    assert block.history is not None and [h["record_id"] for h in block.history] == ["r1", "r2"]
    assert "3 removals" in block.reason
    assert "block_author" not in [a.action for a in decide(engine, pipeline, text, author_hash="someone-else",
                                                              history=history).actions]


def test_a_post_a_moderator_cleared_does_not_count(engine: PolicyEngine, pipeline: Pipeline) -> None:
    history = MemoryHistory()
    history.add("a2", Offence(WEDNESDAY_10 - timedelta(days=3), "abusive", "r1"))
    history.add("a2", Offence(WEDNESDAY_10 - timedelta(days=2), "abusive", "r2"))
    assert "block_author" in [a.action for a in decide(engine, pipeline, "sh1te", author_hash="a2", history=history).actions]
    history.clear("r2")
    assert "block_author" not in [a.action for a in decide(engine, pipeline, "sh1te", author_hash="a2", history=history).actions]


def test_a_comment_that_breaks_no_rule_of_removal_never_counts(engine: PolicyEngine, pipeline: Pipeline) -> None:
    history = MemoryHistory()
    for i in range(5):
        history.add("a3", Offence(WEDNESDAY_10 - timedelta(days=1), "abusive", f"r{i}"))
    decision = decide(engine, pipeline, "How do I pay my rent?", author_hash="a3", history=history)
    assert "block_author" not in [a.action for a in decision.actions]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (("route_to: communications\n    actions:\n      - {do: delete_post",
          "route_to: press_office\n    actions:\n      - {do: delete_post"), "route_to 'press_office' is not one of teams"),
        (("{do: block_author,", "{do: ban_forever,"), "unknown action 'ban_forever'"),
        (("template: pii_removed", "template: nope"), "template 'nope' is not defined"),
        (('start: "09:00"', 'start: "18:00"'), "office_hours.start must be before"),
        (("timezone: Europe/London", "timezone: Mars/Olympus"), "unknown time zone"),
        (("removals: 3", "removals: 0"), "repeat_offenders.removals"),
        (("reasons: [abusive, staff_named, spam]", "reasons: [abusive, complaint]"), r"unknown reasons \['complaint'\]"),
        (("categories_any: [threat, harm, hate]", "categories_any: [Threat]"), r"categories \['Threat'\]"),
        (("    twitter: \"Hi, we've removed your reply", "    tiktok: \"Hi, we've removed your reply"),
         r"templates.pii_removed: \['tiktok'\] are not channels"),
        (("    priority: urgent\n", "    priority: critical\n"), "priority"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_key(tmp_path: Path, edit: tuple[str, str], words: str) -> None:
    from model.policy.config import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    assert edit[0] in text
    bad = tmp_path / "policy.yaml"
    bad.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(PolicyError, match=words):
        load_policy(bad)


def test_categories_any_fires_exactly_where_the_old_source_prefixes_did(tmp_path: Path, pipeline: Pipeline) -> None:
    """``categories_any: [threat, harm, hate]`` replaced ``evidence_any`` source prefixes: same rules fire on every seed text."""
    from model.policy.config import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    new = "when: {categories_any: [threat, harm, hate]}"
    assert new in text
    old = tmp_path / "policy.yaml"
    old.write_text(text.replace(new, 'when: {evidence_any: ["rules:abuse.threat", "rules:abuse.harm", "rules:abuse.hate"]}'),
                   encoding="utf-8")
    by_category, by_prefix = PolicyEngine(load_policy()), PolicyEngine(load_policy(old))
    seed = Path(__file__).resolve().parents[2] / "data" / "seed"
    texts = [json.loads(line)["text"] for path in sorted(seed.glob("*.jsonl")) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    fired = 0
    for text, result in zip(texts, pipeline.classify_many(texts), strict=True):
        a = by_category.decide(result, text, posted_at=WEDNESDAY_10, now=WEDNESDAY_10)
        b = by_prefix.decide(result, text, posted_at=WEDNESDAY_10, now=WEDNESDAY_10)
        assert a == b, text
        fired += "threats_and_hate" in a.rules_fired
    assert fired > 50  # the seed data exercises the rule
