"""``sift classify`` and ``sift batch``: the service's decisions without a server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import pipeline, policy_engine, require, settings
from cli.errors import USAGE


def classify(text: Annotated[str | None, typer.Argument(help="a comment to classify")] = None,
             input: Annotated[Path | None, typer.Option("--input", "-i", help="JSONL file, one {\"text\": ...} a line")] = None,
             output: Annotated[Path | None, typer.Option("--output", "-o", help="where to write one result a line")] = None,
             batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 64) -> None:
    """Classify one comment, or a JSONL file, without a server (the same pipeline and policy the API runs)."""
    from cli.batchfile import classify_file
    from service.comments import classify as decide_all
    from service.comments import submission

    if (text is None) == (input is None):
        typer.echo("give either a TEXT or --input FILE (not both)", err=True)
        raise typer.Exit(USAGE)
    if input is not None and not input.is_file():
        raise FileNotFoundError(2, "no such file", str(input))
    built, policy = pipeline(), policy_engine()
    if text is not None:
        decided = decide_all(built, policy, [submission(text=text)])[0]
        typer.echo(json.dumps({k: v for k, v in decided.public().items() if k != "id"}, ensure_ascii=False, indent=2))
        return
    assert input is not None
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        counts = classify_file(built, input, out, batch_size=batch_size, progress=output is not None, policy=policy)
    finally:
        if output:
            out.close()
    typer.echo(f"{counts['ok']} classified, {counts['errors']} lines with errors" + (f" -> {output}" if output else ""), err=True)


def batch(input: Annotated[Path, typer.Option("--input", "-i", help="JSONL or Parquet with a text column")],
          output: Annotated[Path, typer.Option("--output", "-o", help="JSONL results, one line per input row, in order")],
          workers: Annotated[int, typer.Option(min=1, help="local Dask worker processes (each loads the model once)")] = 2,
          scheduler: Annotated[str | None, typer.Option(help="an existing Dask scheduler address, e.g. tcp://10.0.0.5:8786")] = None,
          chunk_size: Annotated[int, typer.Option(min=1, help="rows a task")] = 1000) -> None:
    """Classify a backlog on Dask (a local cluster on 127.0.0.1 by default); rerun after a crash to resume."""
    from cli.batch import run_batch

    require("dask.distributed", "batch", "sift batch")
    if not input.is_file():
        raise FileNotFoundError(2, "no such file", str(input))
    counts = run_batch(input, output, settings=settings(), chunk_size=chunk_size, workers=workers, scheduler=scheduler)
    typer.echo(f"{counts['rows']} rows in {counts['chunks']} chunks ({counts['skipped']} already done) -> {output}")
