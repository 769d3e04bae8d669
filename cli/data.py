"""``sift data``: public data sets in, moderators' decisions out, the seed split."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.common import App, session, settings

data_app = App(help="Import public labelled data sets into sift's JSONL format.")


@data_app.command("import")
def data_import(name: Annotated[str, typer.Argument(help="the data set (see `sift data list`)")],
                source: Annotated[Path, typer.Option("--from", help="the data set's folder or file (e.g. ../shared/data/davidson)")],
                output: Annotated[Path | None, typer.Option("--output", "-o", help="default: <data dir>/imports/NAME.jsonl")] = None,
                ) -> None:
    """Map a public data set onto sift's labels and write JSONL (with source, licence and annotated labels)."""
    from training.data import write_jsonl
    from training.importers import get_importer, run_import

    cfg = settings()
    importer = get_importer(name)
    rows = run_import(name, source, cfg.data_dir / "cache" / "datasets")
    target = output or cfg.data_dir / "imports" / f"{name}.jsonl"
    count = write_jsonl(rows, target)
    note = " (restricted licence: training uses it only with --allow-restricted)" if importer.restricted else ""
    typer.echo(f"{count} rows from {name} [{importer.licence}]{note} -> {target}")


@data_app.command("list")
def data_list() -> None:
    """The data sets sift can import, their licences and which labels they speak about."""
    from training.importers import IMPORTERS

    for importer in IMPORTERS.values():
        flag = "restricted" if importer.restricted else "open"
        typer.echo(f"{importer.name:22} {importer.licence:40} {flag:10} {','.join(sorted(importer.annotated)):28} {importer.description}")


@data_app.command("split")
def data_split(output: Annotated[Path | None, typer.Option(help="folder for train/dev/test.jsonl (default <data dir>/splits)")] = None,
               seed: Annotated[list[Path] | None, typer.Option(help="seed data folders or files")] = None) -> None:
    """Write the deterministic train/dev/test split of the seed data (the one training uses)."""
    from model.shipped import SEED_DIR
    from training.data import read_many, split, write_jsonl

    target = output or settings().data_dir / "splits"
    parts = split(read_many(seed or [SEED_DIR]))
    for name, rows in parts.items():
        typer.echo(f"{name}: {write_jsonl(rows, target / f'{name}.jsonl')} rows -> {target / f'{name}.jsonl'}")


@data_app.command("export-decisions")
def data_export_decisions(output: Annotated[Path, typer.Option("--output", "-o", help="JSONL to write")]) -> None:
    """Write moderators' decisions as labelled JSONL (the labelling guide's format), with a fingerprint."""
    from service.db.review import decided_rows
    from training.data import MODERATORS, MODERATORS_LICENCE, fingerprint, parse_example, write_jsonl

    with session() as db:
        raw = decided_rows(db)
    rows = [parse_example({**row, "source": MODERATORS, "licence": MODERATORS_LICENCE}, f"decision {i + 1}")
            for i, row in enumerate(raw)]
    count = write_jsonl(rows, output)
    meta = {"rows": count, "fingerprint": fingerprint(rows), "exported_at": datetime.now(UTC).isoformat()}
    output.with_suffix(output.suffix + ".meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    typer.echo(f"exported {count} decisions -> {output} (fingerprint {str(meta['fingerprint'])[:16]}…)")
