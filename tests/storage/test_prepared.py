"""The hot reads' prepared statements (``storage.prepared``) give on SQLite's driver exactly the rows SQLAlchemy
gives for the same statements: the same columns, names and values after each type's processing (JSON lists and
objects, booleans, nulls, floats), for every statement the session reads prepare.

On a SQLite database of the test's own, whatever database the suite runs on: the driver path is SQLite's."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from codeyard.cli.server import prepare
from codeyard.services.principal import Principal, Role
from codeyard.services.sessions import (
    _ID_AND_MESSAGE_COUNT,
    _MESSAGES,
    _RUNNING,
    _VIEW,
    _WAITING,
    NewSession,
)
from codeyard.storage.db import sync_url
from codeyard.storage.prepared import CoreReader, Prepared, SqliteReader
from tests.conftest import make_settings


async def test_the_driver_rows_are_sqlalchemy_s_rows(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", database_url=None)
    db, services = await prepare(settings)
    try:
        org = (await services.identity.list_orgs())[0].id
        user = (await services.identity.list_service_users(org))[0]
        principal = Principal(user.id, user.name, org, Role.ORG_ADMIN, "key")
        made = [
            await services.sessions.create(
                principal, org, NewSession(prompt=f"task {i}", title=f"t{i}", tags=["a", f"é{i}"], max_acu_limit=2.5)
            )
            for i in range(4)
        ]
        plain = await services.sessions.create(principal, org, NewSession(prompt="no extras"))
        for i in range(3):
            await services.sessions.send_message(principal, org, made[0].id, f"message {i} \u2603")
        assert await services.runs.claim_session(made[1].id, "host:1:r", 60) is not None
        await services.sessions.archive(org, made[2].id)
        sessions = [*made, plain]
    finally:
        await db.dispose()

    url = sync_url(settings.resolved_database_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE sessions SET pull_requests = :prs, structured_output = :out WHERE id = :id"),
            {
                "prs": '[{"pr_url": "https://x/pr/1", "pr_state": "open"}]',
                "out": '{"done": true, "n": 1.5}',
                "id": made[3].id,
            },
        )
    cases: list[tuple[Prepared, dict[str, Any]]] = [(_WAITING, {}), (_RUNNING, {})]
    for row in sessions:
        key = {"id": row.id, "org_id": org}
        cases += [(_VIEW, key), (_ID_AND_MESSAGE_COUNT, key)]
        cases += [(_MESSAGES, {"session_id": row.id, "after": after, "limit": 2}) for after in (-1, 0, 10**9)]
    cases += [(_VIEW, {"id": made[0].id, "org_id": "org-other"})]  # nothing
    driver = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        seen_rows = 0
        for query, params in cases:
            with engine.begin() as conn:
                expected = CoreReader(conn).rows(query, params)
            got = SqliteReader(driver, engine.dialect).rows(query, params)
            assert [tuple(r) for r in got] == [tuple(r) for r in expected], (query.statement, params)
            assert all(r._fields == e._fields for r, e in zip(got, expected, strict=True))
            assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in expected]
            seen_rows += len(got)
        assert seen_rows >= 20  # not a comparison of empty results
        view = SqliteReader(driver, engine.dialect).rows(_VIEW, {"id": made[3].id, "org_id": org})[0]
        assert view.tags == ["a", "é3"] and view.is_archived is False
        assert view.pull_requests[0]["pr_state"] == "open" and view.structured_output == {"done": True, "n": 1.5}
    finally:
        driver.close()
        engine.dispose()


def test_a_missing_parameter_is_an_error_not_an_empty_answer(tmp_path: Path) -> None:
    driver = sqlite3.connect(tmp_path / "empty.sqlite")
    try:
        driver.execute(
            "CREATE TABLE messages (pk INTEGER, id TEXT, source TEXT, message TEXT, created_at REAL, session_id TEXT)"
        )
        reader = SqliteReader(driver, create_engine("sqlite://").dialect)
        with pytest.raises(KeyError, match="after"):
            reader.rows(_MESSAGES, {"session_id": "s", "limit": 2})
        assert reader.rows(_MESSAGES, {"session_id": "s", "after": -1, "limit": 2}) == []
    finally:
        driver.close()
