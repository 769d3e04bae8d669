"""Validated YAML files: the loader and the field types that the rule files and the policy file share.

Both ``model.rules`` and ``model.policy`` read configuration written by people, so both need
the same things: a strict schema (an unknown key is an error), a regular-expression field that
must compile, and a loader whose errors name the file and the key to fix.

>>> class Phrase(StrictModel):
...     regex: Regex
>>> load_yaml(Path("phrases.yaml"), Phrase, error=ValueError, what="phrase file")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError


def compiled_regex(value: str) -> str:
    """A pydantic validator: the value must compile as a regular expression."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"regular expression does not compile: {exc}") from exc
    return value


Regex = Annotated[str, AfterValidator(compiled_regex)]


class StrictModel(BaseModel):
    """A schema for a hand-edited file: unknown keys are errors, and the loaded values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path, schema: type[M], *, error: type[ValueError], what: str) -> M:
    """Read ``path`` and validate it against ``schema``; errors (of type ``error``) name the file and the key."""
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg'].removeprefix('Value error, ')}"
                             for err in exc.errors())
        raise error(f"{path}: {problems}") from exc
