"""The migrations build exactly the tables the models declare, and come back down cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from service.db.migrate import alembic_config, downgrade, upgrade
from service.db.models import Base


def test_the_migrations_form_one_line_of_history() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"the migrations have several heads {heads}: set down_revision so they form one line"


def test_the_migrated_database_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"


def test_every_migration_comes_back_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    downgrade(url, "base")
    upgrade(url)
