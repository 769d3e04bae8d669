"""``sift train``, ``sift evaluate`` and ``sift models``: the data team's loop (needs ``sift[train]``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import App, configure_logging, pipeline, session, settings
from cli.errors import Refused
from model.classifier import MODEL_META_FILE

if TYPE_CHECKING:
    from model.pipeline import Pipeline
    from training.compare import Verdict
    from training.registry import Registry

models_app = App(help="The local model registry: list, promote, roll back.")


def _registry() -> Registry:
    from training.registry import Registry

    cfg = settings()
    return Registry(cfg.data_dir / "models", on_promote=_tell_subscribers if cfg.events_file else None)


def _tell_subscribers(promotion: dict[str, Any]) -> None:
    """The ``model.promoted`` event, written to the database for the service to send (SIFT_EVENTS_FILE)."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.db.session import fault_reason
    from service.events import model_promoted

    try:
        with session() as db:
            if model_promoted(db, promotion):
                db.commit()
    except SQLAlchemyError as exc:  # the promotion is made: say plainly that its event is not
        typer.echo(f"warning: {promotion['version']} is current, but the model.promoted event could not be written "
                   f"({fault_reason(exc)}); subscribers will not hear of this promotion", err=True)


def _release() -> Path | None:
    """The shipped release model, when this install has one (read at call time: tests point it elsewhere)."""
    from service import settings as module

    return module.RELEASE_MODEL_DIR if (module.RELEASE_MODEL_DIR / MODEL_META_FILE).is_file() else None


def train(config: Annotated[Path | None, typer.Option(help="YAML training config (see training/config.py)")] = None,
          imports: Annotated[list[Path] | None, typer.Option("--import", help="JSONL from `sift data import` (repeatable)")] = None,
          decisions: Annotated[list[Path] | None, typer.Option("--decisions", help="JSONL from `sift data export-decisions`")] = None,
          allow_restricted: Annotated[list[str] | None, typer.Option(help="a restricted source to use, by name")] = None,
          epochs: Annotated[int | None, typer.Option(min=1)] = None,
          promote: Annotated[bool, typer.Option(help="make the new model current when none is")] = True) -> None:
    """Fine-tune the classifier on the seed data (plus imports), calibrate, export int8 ONNX, register it."""
    from training.config import load_config
    from training.trainer import Trainer

    configure_logging("WARNING")
    cfg = load_config(config, imports=imports or None, decisions=decisions or None, allow_restricted=allow_restricted or None,
                      epochs=epochs)
    registry = _registry()
    out = Trainer(cfg).train(registry.root)
    meta = json.loads((out / MODEL_META_FILE).read_text(encoding="utf-8"))
    typer.echo(f"trained {meta['version']} in {meta['train_seconds']} s -> {out}")
    for set_name, result in meta["metrics"].items():
        typer.echo(f"  {set_name}: macro-F1 {result['macro_f1']}")
    release = _release()
    if promote and registry.current() is None and release is None:
        registry.promote(meta["version"], reason="first model")
        typer.echo(f"{meta['version']} is now the current model")
    elif registry.current() is None:
        typer.echo(f"the shipped release in {release} is served until you promote a model: "
                   f"`sift models compare {meta['version']}`, then `sift models promote {meta['version']}`")


def evaluate(data: Annotated[Path | None, typer.Option(help="labelled JSONL (the labelling guide's format); default: every "
                                                            "held-out set, per source")] = None,
             model: Annotated[Path | None, typer.Option(help="model folder (default: the current model)")] = None,
             staff_roster: Annotated[Path | None, typer.Option(help="roster for staff_named (default: settings)")] = None,
             out: Annotated[Path | None, typer.Option(help="where to write evaluation.json and report.html")] = None) -> None:
    """Per-label precision, recall, F1 beside baselines (rules only, alt-profanity-check); JSON and HTML report.

    Without --data: the seed dev and test splits, the dev split of every public source the model was trained
    on, and the probe sets in data/probes, one line each (macro-F1, review rate, the source's own measures)."""
    from model.pipeline import Pipeline
    from training.data import read_jsonl
    from training.evaluate import format_table, gold, run_pipeline, run_profanity_check
    from training.report import write_report

    cfg = settings()
    model_dir = model or cfg.effective_model_dir
    built = pipeline(cfg, model_dir=model_dir, staff_roster=staff_roster, offline=True)
    name = f"sift {built.model_version}" if built.model_version else "sift (rules only)"
    target = out or cfg.data_dir / "reports" / f"{datetime.now(UTC):%Y%m%d-%H%M%S}"
    if data is None:
        _evaluate_sources(built, name, model_dir, target)
        return
    rows = read_jsonl(data)
    y, m = gold(rows)
    main_result = run_pipeline(name, built, rows, y, m)
    baselines = [run_pipeline("rules only", Pipeline(built.rules, rules_budget=None), rows, y, m)]
    profanity = run_profanity_check(rows, y, m)
    if profanity:
        baselines.append(profanity)
    table = format_table([main_result, *baselines])
    typer.echo(table)
    typer.echo(f"review rate: {main_result.review.mean():.1%}" if main_result.review is not None else "")
    outside = main_result.outside_review
    typer.echo("precision outside review: " + ", ".join(f"{k} {v['precision']:.2f} ({v['decided']})" for k, v in outside.items()))
    json_path, html_path = write_report(target, f"sift evaluation: {name}", str(data), main_result, baselines, rows, y, m, table,
                                        {"model_version": built.model_version})
    typer.echo(f"wrote {json_path} and {html_path}")


def _held_out(model_dir: Path, other: Path | None, extra: list[Path]) -> tuple[dict[str, Any], list[str]]:
    """The fixed held-out sets: seed dev and test, every probe set, ``extra``, and the dev split of every
    public source either model was trained on."""
    from model.shipped import PROBES_DIR, SEED_DIR
    from training.compare import held_out_sets, trained_sources

    return held_out_sets([SEED_DIR], [*sorted(PROBES_DIR.glob("*.jsonl")), *extra], trained_sources(model_dir, other))


def _evaluate_sources(built: Pipeline, name: str, model_dir: Path, target: Path) -> None:
    """One line per held-out set: seed dev and test, each public source's dev split, each probe set."""
    from model.pipeline import Pipeline
    from training.evaluate import format_sources, gold, run_profanity_check, score_set

    # The sources the model was trained on, and those of the shipped release: every model is judged on both.
    sets, notes = _held_out(model_dir, _release(), [])
    summary, baselines = {}, {}
    rules_only = Pipeline(built.rules, languages=built.languages, rules_budget=None)
    for set_name, rows in sets.items():
        summary[set_name] = score_set(set_name, built, rows)
        baselines[set_name] = {"rules only": score_set(set_name, rules_only, rows)}
        profanity = run_profanity_check(rows, *gold(rows))
        if profanity is not None and "abusive" in profanity.metrics:
            baselines[set_name]["alt-profanity-check"] = {"abusive": profanity.metrics["abusive"]}
    typer.echo(f"{name}, held-out sets one per line")
    typer.echo(format_sources(summary))
    typer.echo("\nbaselines on the same rows: rules only (no model); alt-profanity-check for abusive")
    typer.echo(format_sources({k: v["rules only"] for k, v in baselines.items()}))
    typer.echo("alt-profanity-check, abusive F1 (binary macro-F1): " + ", ".join(
        f"{k} {v['alt-profanity-check']['abusive']['f1']:.3f} ({v['alt-profanity-check']['abusive']['binary_macro_f1']:.3f})"
        for k, v in baselines.items() if "alt-profanity-check" in v and v["alt-profanity-check"]["abusive"]["support"]))
    for note in notes:
        typer.echo(f"note: {note}")
    target.mkdir(parents=True, exist_ok=True)
    (target / "evaluation.json").write_text(json.dumps({"system": name, "sets": summary, "baselines": baselines}, indent=2),
                                            encoding="utf-8")
    typer.echo(f"wrote {target / 'evaluation.json'}")


@models_app.command("list")
def models_list() -> None:
    """Model versions in the registry; * marks the current one."""
    registry = _registry()
    current = registry.current()
    for v in registry.versions():
        marks = "*" if v["version"] == current else " "
        typer.echo(f"{marks} {v['version']}  {v['created_at']}  " + "  ".join(f"{k} {f}" for k, f in v["metrics"].items()))


@models_app.command("current")
def models_current() -> None:
    """Print the current model's version (exit code 1 when there is none)."""
    current = _registry().current()
    if current is None:
        release = _release()
        shipped = (f"; the shipped release {json.loads((release / MODEL_META_FILE).read_text(encoding='utf-8'))['version']} "
                   "is served") if release else ""
        raise Refused(f"no promoted model{shipped}")
    typer.echo(current)


@models_app.command("compare")
def models_compare(candidate: Annotated[str, typer.Argument(help="a version in the registry, or a model folder")],
                   data: Annotated[list[Path] | None, typer.Option(help="extra held-out JSONL sets (repeatable)")] = None,
                   tolerance: Annotated[float, typer.Option(help="allowed drop in F1, overall or on any label")] = 0.02) -> None:
    """Evaluate CANDIDATE and the current model on the same fixed held-out sets (seed dev and test, plus --data)."""
    verdict = _compare(candidate, data, tolerance)
    typer.echo(verdict.table())
    typer.echo("verdict: " + ("not worse than the current model" if verdict.better else "WORSE: " + "; ".join(verdict.problems)))


def _compare(candidate: str, data: list[Path] | None, tolerance: float) -> Verdict:
    from training.compare import compare

    registry = _registry()
    path = Path(candidate)
    if not (path / MODEL_META_FILE).is_file():
        path = registry.path_of(candidate)
    current = registry.current()
    current_path: Path | None
    if current:
        current_path = registry.path_of(current) if current != path.name else None
    else:  # nothing promoted yet: the shipped release is what is being served
        current_path = _release()
        if current_path is not None and current_path.resolve() == path.resolve():
            current_path = None
    sets, notes = _held_out(path, current_path, data or [])
    return compare(path, current_path, sets, settings().staff_roster, tolerance, notes)


@models_app.command("promote")
def models_promote(version: str,
                   force: Annotated[bool, typer.Option(help="promote even if it is worse than the current model")] = False,
                   tolerance: Annotated[float, typer.Option(help="allowed drop in F1, overall or on any label")] = 0.02) -> None:
    """Make VERSION the current model, if it is not worse than the current one on the held-out sets.

    A running service picks it up within seconds, without a restart."""
    verdict = _compare(version, None, tolerance)
    typer.echo(verdict.table())
    if not verdict.better and not force:
        raise Refused("refused: " + "; ".join(verdict.problems) + " (use --force to promote anyway)")
    reason = "promoted by hand" + (" with --force despite: " + "; ".join(verdict.problems) if verdict.problems else "")
    _registry().promote(version, reason=reason)
    typer.echo(f"{version} is now the current model")


@models_app.command("rollback")
def models_rollback() -> None:
    """Go back to the model that was current before this one."""
    version = _registry().rollback()
    typer.echo(f"rolled back: {version} is now the current model")
