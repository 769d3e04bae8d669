"""The ``sift`` console command."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

# Nothing may be downloaded at run time: every model and data set is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

app = typer.Typer(help="sift: classify comments sent to an organisation's social media accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (stored hashed).", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
data_app = typer.Typer(help="Import public labelled data sets into sift's JSONL format.", no_args_is_help=True)
models_app = typer.Typer(help="The local model registry: list, promote, roll back.", no_args_is_help=True)
policy_app = typer.Typer(help="The guide as policy: check a policy file, explain a decision.", no_args_is_help=True)
users_app = typer.Typer(help="Moderator accounts for the review pages.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue: suggest items, purge old texts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(review_app, name="review")
app.add_typer(policy_app, name="policy")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")


def _settings(**overrides: Any):  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"configuration error: {err['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from exc


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
          workers: Annotated[int, typer.Option(help="worker processes")] = 1) -> None:
    """Start the HTTP API (OpenAPI docs at /docs)."""
    import os

    import uvicorn

    os.environ["SIFT_HOST"] = host
    os.environ["SIFT_PORT"] = str(port)
    if workers > 1 and not os.environ.get("SIFT_MODEL_THREADS"):
        # Each worker's model gets its share of the cores, so N workers do not fight over them.
        os.environ["SIFT_MODEL_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    settings = _settings(host=host, port=port)
    _configure_logging(settings.log_level)
    from service.db.migrate import upgrade

    upgrade(settings.effective_database_url)  # once, before the workers start (they would race on a fresh database)
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level.lower())


def _pipeline():  # type: ignore[no-untyped-def]
    from model.loader import build_pipeline

    settings = _settings()
    pipeline, components = build_pipeline(rules_dir=settings.rules_dir, staff_roster=settings.staff_roster,
                                          org_file=settings.org_file, model_dir=settings.effective_model_dir)
    for name, component in components.items():
        if not component.ok:
            typer.echo(f"note: {name}: {component.detail}", err=True)
    return pipeline


def _policy_engine(path: Path | None = None):  # type: ignore[no-untyped-def]
    from model.policy.config import PolicyError, load_policy
    from model.policy.engine import PolicyEngine

    try:
        return PolicyEngine(load_policy(path or _settings().policy_file))
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def classify(text: Annotated[str | None, typer.Argument(help="a comment to classify")] = None,
             input: Annotated[Path | None, typer.Option("--input", "-i", help="JSONL file, one {\"text\": ...} a line")] = None,
             output: Annotated[Path | None, typer.Option("--output", "-o", help="where to write one result a line")] = None,
             batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 64) -> None:
    """Classify one comment, or a JSONL file, without a server (the same pipeline the API runs)."""
    if (text is None) == (input is None):
        typer.echo("give either a TEXT or --input FILE (not both)", err=True)
        raise typer.Exit(2)
    pipeline = _pipeline()
    if text is not None:
        from model.pipeline import InvalidTextError

        try:
            result = pipeline.classify(text)
        except InvalidTextError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        decision = _policy_engine().decide(result, text)
        typer.echo(json.dumps({**asdict(result), **decision.public_fields()}, ensure_ascii=False, indent=2))
        return
    from cli.batchfile import classify_file

    assert input is not None
    if not input.is_file():
        typer.echo(f"error: {input} does not exist", err=True)
        raise typer.Exit(2)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        counts = classify_file(pipeline, input, out, batch_size=batch_size, progress=output is not None, policy=_policy_engine())
    finally:
        if output:
            out.close()
    typer.echo(f"{counts['ok']} classified, {counts['errors']} lines with errors" + (f" -> {output}" if output else ""), err=True)


@app.command()
def batch(input: Annotated[Path, typer.Option("--input", "-i", help="JSONL or Parquet with a text column")],
          output: Annotated[Path, typer.Option("--output", "-o", help="JSONL results, one line per input row, in order")],
          workers: Annotated[int, typer.Option(min=1, help="local Dask worker processes (each loads the model once)")] = 2,
          scheduler: Annotated[str | None, typer.Option(help="an existing Dask scheduler address, e.g. tcp://10.0.0.5:8786")] = None,
          chunk_size: Annotated[int, typer.Option(min=1, help="rows a task")] = 1000) -> None:
    """Classify a backlog on Dask (a local cluster on 127.0.0.1 by default); rerun after a crash to resume."""
    from cli.batch import run_batch

    if not input.is_file():
        typer.echo(f"error: {input} does not exist", err=True)
        raise typer.Exit(2)
    counts = run_batch(input, output, chunk_size=chunk_size, workers=workers, scheduler=scheduler)
    typer.echo(f"{counts['rows']} rows in {counts['chunks']} chunks ({counts['skipped']} already done) -> {output}")


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="who uses the key")],
                scope: Annotated[list[str], typer.Option(help="classify, review or admin (repeatable)")] = ["classify"]) -> None:  # noqa: B006
    """Create an API key and print it once (only its hash is stored)."""
    from service.db.repository import create_api_key

    with _session() as session:
        try:
            row, plain = create_api_key(session, name, scope)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    typer.echo(f"created key {row.id} ({row.name}, scopes {row.scopes}). Store it now, it is not shown again:")
    typer.echo(plain)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    from sqlalchemy import select

    from service.db.models import ApiKey

    with _session() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.prefix}…  {row.name}  [{row.scopes}]  {state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    from service.db.repository import revoke_api_key

    with _session() as session:
        if not revoke_api_key(session, key_id):
            typer.echo(f"error: no active key with id {key_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to the configured database."""
    from service.db.migrate import upgrade

    upgrade(_settings().effective_database_url, revision)
    typer.echo("database is up to date")


def _session():  # type: ignore[no-untyped-def]
    from service.db.migrate import upgrade
    from service.db.session import make_engine, make_session_factory

    url = _settings().effective_database_url
    upgrade(url)
    return make_session_factory(make_engine(url))()


@data_app.command("import")
def data_import(name: Annotated[str, typer.Argument(help="the data set (see `sift data list`)")],
                source: Annotated[Path, typer.Option("--from", help="the data set's folder or file (e.g. ../shared/data/davidson)")],
                output: Annotated[Path | None, typer.Option("--output", "-o", help="default: var/imports/NAME.jsonl")] = None) -> None:
    """Map a public data set onto sift's labels and write JSONL (with source, licence and annotated labels)."""
    from training.data import DataError, write_jsonl
    from training.importers import get_importer, run_import

    settings = _settings()
    try:
        importer = get_importer(name)
        rows = run_import(name, source, settings.data_dir / "cache" / "datasets")
    except DataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    target = output or settings.data_dir / "imports" / f"{name}.jsonl"
    count = write_jsonl(rows, target)
    note = " (restricted licence: training uses it only with --allow-restricted)" if importer.restricted else ""
    typer.echo(f"{count} rows from {name} [{importer.licence}]{note} -> {target}")


@data_app.command("list")
def data_list() -> None:
    """The data sets sift can import, their licences and which labels they speak about."""
    from training.importers import IMPORTERS

    for importer in IMPORTERS.values():
        flag = "restricted" if importer.restricted else "open"
        typer.echo(f"{importer.name:22} {importer.licence:22} {flag:10} {','.join(sorted(importer.annotated)):28} {importer.description}")


@app.command()
def train(config: Annotated[Path | None, typer.Option(help="YAML training config (see training/config.py)")] = None,
          imports: Annotated[list[Path] | None, typer.Option("--import", help="JSONL from `sift data import` (repeatable)")] = None,
          decisions: Annotated[list[Path] | None, typer.Option("--decisions", help="JSONL from `sift data export-decisions`")] = None,
          allow_restricted: Annotated[list[str] | None, typer.Option(help="a restricted source to use, by name")] = None,
          epochs: Annotated[int | None, typer.Option(min=1)] = None,
          promote: Annotated[bool, typer.Option(help="make the new model current when none is")] = True) -> None:
    """Fine-tune the classifier on the seed data (plus imports), calibrate, export int8 ONNX, register it."""
    from service.settings import RELEASE_MODEL_DIR
    from training.config import load_config
    from training.data import DataError
    from training.registry import Registry
    from training.trainer import Trainer

    settings = _settings()
    _configure_logging("WARNING")
    try:
        cfg = load_config(config, imports=imports or None, decisions=decisions or None, allow_restricted=allow_restricted or None,
                          epochs=epochs)
        registry = Registry(settings.data_dir / "models")
        out = Trainer(cfg).train(registry.root)
    except DataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    meta = json.loads((out / "sift_model.json").read_text(encoding="utf-8"))
    typer.echo(f"trained {meta['version']} in {meta['train_seconds']} s -> {out}")
    for set_name, result in meta["metrics"].items():
        typer.echo(f"  {set_name}: macro-F1 {result['macro_f1']}")
    if promote and registry.current() is None and not (RELEASE_MODEL_DIR / "sift_model.json").is_file():
        registry.promote(meta["version"], reason="first model")
        typer.echo(f"{meta['version']} is now the current model")
    elif registry.current() is None:
        typer.echo(f"the shipped release in {RELEASE_MODEL_DIR} is served until you promote a model: "
                   f"`sift models compare {meta['version']}`, then `sift models promote {meta['version']}`")


@app.command()
def evaluate(data: Annotated[Path | None, typer.Option(help="labelled JSONL (the labelling guide's format); default: every "
                                                            "held-out set, per source")] = None,
             model: Annotated[Path | None, typer.Option(help="model folder (default: the current model)")] = None,
             staff_roster: Annotated[Path | None, typer.Option(help="roster for staff_named (default: settings)")] = None,
             out: Annotated[Path | None, typer.Option(help="where to write evaluation.json and report.html")] = None) -> None:
    """Per-label precision, recall, F1 beside baselines (rules only, alt-profanity-check); JSON and HTML report.

    Without --data: the seed dev and test splits, the dev split of every public source the model was trained
    on, and the probe sets in data/probes, one line each (macro-F1, review rate, the source's own measures)."""
    from datetime import UTC, datetime

    from model.loader import build_pipeline
    from model.pipeline import Pipeline
    from training.data import DataError, read_jsonl
    from training.evaluate import format_table, gold, run_pipeline, run_profanity_check
    from training.report import write_report

    settings = _settings()
    roster = staff_roster or settings.staff_roster
    model_dir = model or settings.effective_model_dir
    pipeline, components = build_pipeline(rules_dir=settings.rules_dir, staff_roster=roster, org_file=settings.org_file,
                                          model_dir=model_dir)
    if not components["model"].ok:
        typer.echo(f"note: {components['model'].detail}", err=True)
    name = f"sift {pipeline.model_version}" if pipeline.model_version else "sift (rules only)"
    target = out or settings.data_dir / "reports" / f"{datetime.now(UTC):%Y%m%d-%H%M%S}"
    if data is None:
        _evaluate_sources(pipeline, name, model_dir, target)
        return
    try:
        rows = read_jsonl(data)
    except DataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    y, m = gold(rows)
    main_result = run_pipeline(name, pipeline, rows, y, m)
    baselines = [run_pipeline("rules only", Pipeline(pipeline.rules), rows, y, m)]
    profanity = run_profanity_check(rows, y, m)
    if profanity:
        baselines.append(profanity)
    table = format_table([main_result, *baselines])
    typer.echo(table)
    typer.echo(f"review rate: {main_result.review.mean():.1%}" if main_result.review is not None else "")
    outside = main_result.outside_review
    typer.echo("precision outside review: " + ", ".join(f"{k} {v['precision']:.2f} ({v['decided']})" for k, v in outside.items()))
    json_path, html_path = write_report(target, f"sift evaluation: {name}", str(data), main_result, baselines, rows, y, m, table,
                                        {"model_version": pipeline.model_version})
    typer.echo(f"wrote {json_path} and {html_path}")


PROBES_DIR = Path(__file__).resolve().parents[1] / "data" / "probes"


def _evaluate_sources(pipeline, name: str, model_dir: Path, target: Path) -> None:  # type: ignore[no-untyped-def]
    """One line per held-out set: seed dev and test, each public source's dev split, each probe set."""
    from service.settings import RELEASE_MODEL_DIR
    from model.pipeline import Pipeline
    from training.compare import held_out_sets, trained_sources
    from training.evaluate import format_sources, gold, run_profanity_check, score_set

    # The sources the model was trained on, and those of the shipped release: every model is judged on both.
    sets, notes = held_out_sets([Path("data/seed")], sorted(PROBES_DIR.glob("*.jsonl")),
                                trained_sources(model_dir, RELEASE_MODEL_DIR))
    summary, baselines = {}, {}
    rules_only = Pipeline(pipeline.rules, languages=pipeline.languages)
    for set_name, rows in sets.items():
        summary[set_name] = score_set(set_name, pipeline, rows)
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
    from training.registry import Registry

    registry = Registry(_settings().data_dir / "models")
    current = registry.current()
    for v in registry.versions():
        marks = "*" if v["version"] == current else " "
        typer.echo(f"{marks} {v['version']}  {v['created_at']}  " + "  ".join(f"{k} {f}" for k, f in v["metrics"].items()))


@models_app.command("current")
def models_current() -> None:
    """Print the current model's version (exit code 1 when there is none)."""
    from service.settings import RELEASE_MODEL_DIR
    from training.registry import Registry

    current = Registry(_settings().data_dir / "models").current()
    if current is None:
        meta = RELEASE_MODEL_DIR / "sift_model.json"
        shipped = f"; the shipped release {json.loads(meta.read_text(encoding='utf-8'))['version']} is served" if meta.is_file() else ""
        typer.echo(f"no promoted model{shipped}", err=True)
        raise typer.Exit(1)
    typer.echo(current)


@data_app.command("split")
def data_split(output: Annotated[Path | None, typer.Option(help="folder for train/dev/test.jsonl (default var/splits)")] = None,
               seed: Annotated[list[Path] | None, typer.Option(help="seed data folders or files")] = None) -> None:
    """Write the deterministic train/dev/test split of the seed data (the one training uses)."""
    from training.data import read_many, split, write_jsonl

    target = output or _settings().data_dir / "splits"
    parts = split(read_many(seed or [Path("data/seed")]))
    for name, rows in parts.items():
        typer.echo(f"{name}: {write_jsonl(rows, target / f'{name}.jsonl')} rows -> {target / f'{name}.jsonl'}")


@models_app.command("compare")
def models_compare(candidate: Annotated[str, typer.Argument(help="a version in the registry, or a model folder")],
                   data: Annotated[list[Path] | None, typer.Option(help="extra held-out JSONL sets (repeatable)")] = None,
                   tolerance: Annotated[float, typer.Option(help="allowed drop in F1, overall or on any label")] = 0.02) -> None:
    """Evaluate CANDIDATE and the current model on the same fixed held-out sets (seed dev and test, plus --data)."""
    verdict = _compare(candidate, data, tolerance)
    typer.echo(verdict.table())
    typer.echo("verdict: " + ("not worse than the current model" if verdict.better else "WORSE: " + "; ".join(verdict.problems)))


def _compare(candidate: str, data: list[Path] | None, tolerance: float):  # type: ignore[no-untyped-def]
    from service.settings import RELEASE_MODEL_DIR
    from training.compare import compare, held_out_sets, trained_sources
    from training.registry import Registry, RegistryError

    settings = _settings()
    registry = Registry(settings.data_dir / "models")
    path = Path(candidate)
    if not (path / "sift_model.json").is_file():
        try:
            path = registry.path_of(candidate)
        except RegistryError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    current = registry.current()
    if current:
        current_path: Path | None = registry.path_of(current) if current != path.name else None
    else:  # nothing promoted yet: the shipped release is what is being served
        current_path = RELEASE_MODEL_DIR if (RELEASE_MODEL_DIR / "sift_model.json").is_file() else None
        if current_path is not None and current_path.resolve() == path.resolve():
            current_path = None
    sets, notes = held_out_sets([Path("data/seed")], [*sorted(PROBES_DIR.glob("*.jsonl")), *(data or [])],
                                trained_sources(path, current_path))
    return compare(path, current_path, sets, settings.staff_roster, tolerance, notes)


@models_app.command("promote")
def models_promote(version: str,
                   force: Annotated[bool, typer.Option(help="promote even if it is worse than the current model")] = False,
                   tolerance: Annotated[float, typer.Option(help="allowed drop in F1, overall or on any label")] = 0.02) -> None:
    """Make VERSION the current model, if it is not worse than the current one on the held-out sets.

    A running service picks it up within seconds, without a restart."""
    from training.registry import Registry, RegistryError

    verdict = _compare(version, None, tolerance)
    typer.echo(verdict.table())
    if not verdict.better and not force:
        typer.echo("refused: " + "; ".join(verdict.problems) + " (use --force to promote anyway)", err=True)
        raise typer.Exit(1)
    try:
        reason = "promoted by hand" + (" with --force despite: " + "; ".join(verdict.problems) if verdict.problems else "")
        Registry(_settings().data_dir / "models").promote(version, reason=reason)
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{version} is now the current model")


@models_app.command("rollback")
def models_rollback() -> None:
    """Go back to the model that was current before this one."""
    from training.registry import Registry, RegistryError

    try:
        version = Registry(_settings().data_dir / "models").rollback()
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"rolled back: {version} is now the current model")


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="a policy YAML file")]) -> None:
    """Validate a policy file; errors name the bad key."""
    engine = _policy_engine(file)
    policy = engine.policy
    typer.echo(f"{file}: valid. {len(policy.rules)} rules ({', '.join(r.id for r in policy.rules)}), "
               f"{len(policy.templates)} templates, office hours {policy.calendar.office_hours.start:%H:%M}-"
               f"{policy.calendar.office_hours.end:%H:%M} {policy.calendar.timezone}, repeat offenders blocked at "
               f"{policy.repeat_offenders.removals} removals in {policy.repeat_offenders.window_days} days")


@policy_app.command("explain")
def policy_explain(text: Annotated[str, typer.Argument(help="a comment")],
                   channel: Annotated[str | None, typer.Option(help="facebook, twitter, linkedin, youtube, instagram")] = None,
                   posted_at: Annotated[str | None, typer.Option(help="ISO 8601, e.g. 2026-11-27T16:30:00Z (default: now)")] = None,
                   policy: Annotated[Path | None, typer.Option(help="policy file (default: settings)")] = None) -> None:
    """Classify a comment and say what to do about it, by when, and why."""
    from cli.batchfile import _posted

    when = _posted(posted_at) if posted_at else None
    if posted_at and when is None:
        typer.echo("error: --posted-at must be ISO 8601, e.g. 2026-11-27T16:30:00Z", err=True)
        raise typer.Exit(2)
    engine = _policy_engine(policy)
    result = _pipeline().classify(text)
    decision = engine.decide(result, text, channel=channel, posted_at=when)
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


@users_app.command("create")
def users_create(username: Annotated[str, typer.Option(help="the moderator's sign-in name")],
                 role: Annotated[str, typer.Option(help="moderator or admin")] = "moderator",
                 password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False) -> None:
    """Create a moderator account (the password is stored as an argon2 hash)."""
    from api.auth import AuthError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password (12 characters or more)", hide_input=True, confirmation_prompt=True)
    with _session() as session:
        try:
            user = create_user(session, username, password, role)
        except AuthError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    typer.echo(f"created {user.role} {user.username}")


@review_app.command("purge")
def review_purge(days: Annotated[int | None, typer.Option(help="retention in days (default: settings, 90)")] = None) -> None:
    """Forget the text of comments older than the retention period (the service also does this at start-up)."""
    from service.db.review import purge_expired

    settings = _settings()
    with _session() as session:
        count = purge_expired(session, days or settings.retention_days)
    typer.echo(f"purged the text of {count} comments older than {days or settings.retention_days} days")


@review_app.command("suggest")
def review_suggest(input: Annotated[Path, typer.Option("--input", "-i", help="JSONL comments, one {\"text\": ...} a line")],
                   n: Annotated[int, typer.Option(min=1, max=1000, help="how many items to add to the queue")] = 20) -> None:
    """Pick the comments most worth a moderator's time (most uncertain, then most diverse) and queue them."""
    from cli.suggest import suggest

    pipeline = _pipeline()
    with _session() as session:
        chosen = suggest(session, pipeline, input, n, _settings().author_secret())
    typer.echo(f"queued {len(chosen)} comments for review")
    for score, text in chosen[:10]:
        typer.echo(f"  uncertainty {score:.2f}: {len(text)} characters")


@data_app.command("export-decisions")
def data_export_decisions(output: Annotated[Path, typer.Option("--output", "-o", help="JSONL to write")]) -> None:
    """Write moderators' decisions as labelled JSONL (the labelling guide's format), with a fingerprint."""
    import hashlib
    from datetime import UTC, datetime

    from service.db.review import decisions

    rows = []
    with _session() as session:
        for entry, record in decisions(session):
            decided = entry.decided or {}
            rows.append({"text": record.text, "labels": decided.get("labels", []), "flags": decided.get("flags", []),
                         "channel": record.channel, "source": "moderators",
                         "licence": "the organisation's own moderation decisions",
                         "annotated": ["query", "complaint", "compliment", "negative", "abusive", "pii", "spam", "staff_named"]})
    output.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    output.write_text(body, encoding="utf-8")
    fingerprint = hashlib.sha256(body.encode()).hexdigest()
    meta = {"rows": len(rows), "sha256": fingerprint, "exported_at": datetime.now(UTC).isoformat()}
    output.with_suffix(output.suffix + ".meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    typer.echo(f"exported {len(rows)} decisions -> {output} (sha256 {fingerprint[:16]}…)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
