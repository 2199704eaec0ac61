"""The Alembic migrations build exactly the schema the tables declare, and run twice without harm."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from codeyard.storage.db import migrate
from codeyard.storage.tables import Base


def test_migrations_match_the_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    migrate(url)
    migrate(url)  # a second start finds nothing to do
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == [], f"the migrations and storage/tables.py disagree: {diff}"
    assert set(Base.metadata.tables) <= tables


@pytest.mark.postgres
def test_migrations_match_the_tables_on_postgres(postgres_url: str) -> None:
    migrate(postgres_url)  # the fixture's database is migrated already: a second start finds nothing to do
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    ours = [d for d in diff if "procrastinate" not in repr(d)]  # procrastinate's own tables and indexes
    assert ours == [], f"the migrations and storage/tables.py disagree on PostgreSQL: {ours}"
    assert set(Base.metadata.tables) <= tables
    assert "procrastinate_jobs" in tables  # the workers' queue (migration 0006)
