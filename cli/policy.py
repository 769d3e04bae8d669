"""``sift policy``: the guide as policy, checked and explained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import App, pipeline, policy_engine

policy_app = App(help="The guide as policy: check a policy file, explain a decision.")


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="a policy YAML file")]) -> None:
    """Validate a policy file; errors name the bad key."""
    policy = policy_engine(file).policy
    typer.echo(f"{file}: valid. {len(policy.rules)} rules ({', '.join(r.id for r in policy.rules)}), "
               f"{len(policy.templates)} templates, office hours {policy.calendar.office_hours.start:%H:%M}-"
               f"{policy.calendar.office_hours.end:%H:%M} {policy.calendar.timezone}, repeat offenders blocked at "
               f"{policy.repeat_offenders.removals} removals in {policy.repeat_offenders.window_days} days")


@policy_app.command("explain")
def policy_explain(text: Annotated[str, typer.Argument(help="a comment")],
                   channel: Annotated[str | None, typer.Option(help="facebook, twitter, linkedin, youtube, instagram")] = None,
                   posted_at: Annotated[str | None, typer.Option(help="ISO 8601 with a zone, e.g. 2026-11-27T16:30:00Z "
                                                                       "(default: now)")] = None,
                   policy: Annotated[Path | None, typer.Option(help="policy file (default: settings)")] = None) -> None:
    """Classify a comment and say what to do about it, by when, and why."""
    from service.comments import classify, submission

    item = submission(text=text, channel=channel, posted_at=posted_at)
    decided = classify(pipeline(), policy_engine(policy), [item])[0]
    result, decision = decided.result, decided.decision
    flags = [f for f, on in result.flags.items() if on]
    typer.echo(f"labels: {', '.join(result.labels) or '(none)'}" + (f"; flags: {', '.join(flags)}" if flags else "")
               + f"  [source: {result.source}{' ' + result.model_version if result.model_version else ''}]")
    typer.echo(f"priority: {decision.priority}; route to: {decision.route_to or '(nobody)'}")
    for action in decision.actions:
        typer.echo(f"- {action.action}: {action.reason}  [rule {action.rule}: \"{action.guide}\"]")
        for past in action.history or []:
            typer.echo(f"    earlier removal {past['at']} for {past['reason']}")
    for name, body in decision.reply_templates.items():
        typer.echo(f"  reply ({name}): {body}")
    if decision.sla:
        sla = decision.sla
        typer.echo(f"posted {sla.posted_at}; acknowledge by {sla.acknowledge_by}; respond by {sla.respond_by} ({sla.timezone})")
        for note in sla.notes:
            typer.echo(f"  note: {note}")
    if result.needs_review:
        typer.echo("needs review: " + "; ".join(result.review_reasons))
