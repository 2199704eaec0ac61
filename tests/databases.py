"""Which database the tests run on, and a fresh PostgreSQL database per test.

``CODEYARD_TEST_DATABASE=postgres`` runs the whole suite on PostgreSQL: every test that builds settings
(``make_settings``) or starts a server (``start_server``) gets its own database, created with ``CREATE DATABASE
… TEMPLATE`` from one database migrated once per run. ``CODEYARD_TEST_POSTGRES_URL`` names the server and a
database to connect to first (a role allowed to create databases); default
``postgresql+psycopg://codeyard:codeyard@127.0.0.1:5432/codeyard_test``, what ``.ci/run`` creates.
Tests that need PostgreSQL whatever the switch (``postgres_url`` fixture) skip, with the reason, when no
server answers.

Read once at import: the ``clean_environ`` fixture removes every ``CODEYARD_*`` variable from the tests' view.
"""

import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from codeyard.storage.db import migrate, sync_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://codeyard:codeyard@127.0.0.1:5432/codeyard_test"
POSTGRES_URL = os.environ.get("CODEYARD_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
ON_POSTGRES = os.environ.get("CODEYARD_TEST_DATABASE", "sqlite").lower() in ("postgres", "postgresql", "pg")


def sqlite_only(reason: str) -> pytest.MarkDecorator:
    """Skip a test on the PostgreSQL pass, saying why (what it checks is the database file in the data dir)."""
    return pytest.mark.skipif(ON_POSTGRES, reason=f"SQLite only: {reason}")


_lock = threading.Lock()
_template: str | None = None
_created: list[str] = []
_by_data_dir: dict[Path, str] = {}
_problem: str | None = None


def _admin_dsn(database: str | None = None) -> str:
    url = make_url(POSTGRES_URL)
    if database is not None:
        url = url.set(database=database)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _url_of(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def postgres_problem() -> str | None:
    """Why no PostgreSQL server can be used for tests, or ``None`` when one answers."""
    global _problem
    if _problem is None:
        try:
            with psycopg.connect(_admin_dsn(), connect_timeout=3):
                _problem = ""
        except psycopg.Error as exc:
            _problem = f"no PostgreSQL server answers at CODEYARD_TEST_POSTGRES_URL ({_safe(POSTGRES_URL)}): {exc}"
    return _problem or None


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _execute(sql: str) -> None:
    with psycopg.connect(_admin_dsn(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.encode())  # names are generated here, never user input


def fresh_postgres_url() -> str:
    """A new, migrated, empty database (``postgresql+psycopg://…``), dropped at the end of the run."""
    global _template
    problem = postgres_problem()
    if problem:
        raise RuntimeError(problem)
    with _lock:
        if _template is None:
            name = f"cy_tpl_{os.getpid()}_{secrets.token_hex(4)}"
            _execute(f'CREATE DATABASE "{name}"')
            _created.append(name)
            migrate(_url_of(name))
            _template = name
        name = f"cy_{os.getpid()}_{secrets.token_hex(6)}"
        _execute(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"')
        _created.append(name)
    return _url_of(name)


def database_url_for(data_dir: Path) -> str | None:
    """The database of the deployment whose data dir is ``data_dir``: ``None`` (its SQLite file) unless the suite
    runs on PostgreSQL, then one fresh database per data dir, so a restarted server finds its data again."""
    if not ON_POSTGRES:
        return None
    key = data_dir.resolve()
    with _lock:
        known = _by_data_dir.get(key)
    if known is None:
        known = fresh_postgres_url()
        with _lock:
            _by_data_dir[key] = known
    return known


def clone_data_dir(source: Path, target: Path) -> None:
    """Copy a prepared data dir (files, and on PostgreSQL its database, which must have no open connections)."""
    shutil.copytree(source, target)
    if not ON_POSTGRES:
        return
    origin = make_url(database_url_for(source) or "").database
    name = f"cy_{os.getpid()}_{secrets.token_hex(6)}"
    with _lock:
        _execute(f'CREATE DATABASE "{name}" TEMPLATE "{origin}"')
        _created.append(name)
        _by_data_dir[target.resolve()] = _url_of(name)


def query(data_dir: Path, sql: str, database_url: str | None = None, **params: object) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (named ``:params``) on ``database_url``, by default the database of the server whose data
    dir is ``data_dir``."""
    url = sync_url(database_url or database_url_for(data_dir) or f"sqlite:///{data_dir / 'codeyard.db'}")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def drop_all() -> None:
    """Drop every database this run created (forcibly: a killed server may have left connections)."""
    with _lock:
        names, _created[:] = list(reversed(_created)), []
        _by_data_dir.clear()
    for name in names:
        try:
            _execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass
