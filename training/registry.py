"""A local model registry: versions in one folder, ``current`` a symlink to the served one.

    registry = Registry(Path("var/models"))
    registry.promote("20261127-101500-ab12cd")   # atomically repoints ``current``
    registry.rollback()                          # back to the previous current

Promotion history is kept in ``registry.json`` beside the versions. ``on_promote`` is told of each
promotion once it is made (``sift models promote`` writes the ``model.promoted`` event with it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.classifier import MODEL_META_FILE


class RegistryError(RuntimeError):
    """A registry operation cannot be done; the message says why and what to do."""


class Registry:
    def __init__(self, root: Path, *, on_promote: Callable[[dict[str, Any]], None] | None = None):
        self.root = root
        self.on_promote = on_promote

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    def _state(self) -> dict[str, Any]:
        path = self.root / "registry.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
        return {"promotions": []}

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.root / "registry.json.tmp"
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(tmp, self.root / "registry.json")

    def versions(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return out
        for child in sorted(self.root.iterdir()):
            meta = child / MODEL_META_FILE
            if child.is_dir() and not child.is_symlink() and meta.is_file():
                data = json.loads(meta.read_text(encoding="utf-8"))
                out.append({"version": data["version"], "path": str(child), "created_at": data.get("created_at"),
                            "metrics": {k: v.get("macro_f1") for k, v in data.get("metrics", {}).items()}})
        return out

    def current(self) -> str | None:
        link = self.current_link
        if link.is_symlink() and link.resolve().is_dir():
            return link.resolve().name
        return None

    def path_of(self, version: str) -> Path:
        path = self.root / version
        if not (path / MODEL_META_FILE).is_file():
            known = ", ".join(v["version"] for v in self.versions()) or "none"
            raise RegistryError(f"no model version {version!r} in {self.root}; known versions: {known}")
        return path

    def promote(self, version: str, *, reason: str = "") -> None:
        """Point ``current`` at ``version`` atomically (a running service picks it up on reload)."""
        self.path_of(version)
        previous = self.current()
        tmp = self.root / f".current-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(version, tmp)
        os.replace(tmp, self.current_link)
        state = self._state()
        entry = {"version": version, "previous": previous, "at": datetime.now(UTC).isoformat(), "reason": reason}
        state["promotions"].append(entry)
        self._save(state)
        if self.on_promote is not None:
            self.on_promote(entry)

    def rollback(self) -> str:
        state = self._state()
        current = self.current()
        for entry in reversed(state["promotions"]):
            if entry["version"] == current and entry.get("previous"):
                self.promote(entry["previous"], reason=f"rollback from {current}")
                return str(entry["previous"])
        raise RegistryError("nothing to roll back to: the current model has no recorded predecessor")
