"""Two writers racing on one session row, on PostgreSQL with real concurrent connections: a user's message that
arrives while the runner settles the turn is never lost, and two runners never claim the same session.

A third connection holds the row lock until both writers are queued behind it, so the interleaving that lost
the message before the rows were locked (both read the old state, then both wrote) happens every time.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from codeyard.cli.server import prepare
from codeyard.services.container import Services
from codeyard.services.principal import Principal, Role
from codeyard.services.sessions import NewSession
from codeyard.storage.db import Database
from codeyard.storage.tables import MessageRow
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def two(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Services, Services, Principal, str]]:
    settings = make_settings(tmp_path / "data", database_url=postgres_url)
    db_a, a = await prepare(settings)
    db_b = Database(postgres_url)
    b = Services(settings, db_b)
    org = (await a.identity.list_orgs())[0].id
    user = (await a.identity.list_service_users(org))[0]
    yield a, b, Principal(user.id, user.name, org, Role.ORG_ADMIN, "key"), org
    await db_a.dispose()
    await db_b.dispose()


async def _waiting_on_locks(conn: psycopg.AsyncConnection[tuple[object, ...]], count: int) -> None:
    for _ in range(600):
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        row = await cur.fetchone()
        if row is not None and int(str(row[0])) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the writers never queued on the row lock ({count} expected)")


async def test_a_message_during_the_runners_finish_is_never_lost(
    two: tuple[Services, Services, Principal, str], postgres_url: str
) -> None:
    api, runner, principal, org = two
    row = await api.sessions.create(principal, org, NewSession(prompt="first"))
    assert await runner.runs.claim_next("host:1:r", 60) is not None
    await runner.runs.start(row.id, "host:1:r")
    await runner.runs.absorb_user_messages(row.id, "host:1:r", lambda text: {"role": "user", "content": text})

    async with await psycopg.AsyncConnection.connect(_dsn(postgres_url)) as holder:
        await holder.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (row.id,))
        finish = asyncio.create_task(runner.runs.finish(row.id, "host:1:r", "done"))
        message = asyncio.create_task(api.sessions.send_message(principal, org, row.id, "one more thing"))
        async with await psycopg.AsyncConnection.connect(_dsn(postgres_url), autocommit=True) as watcher:
            await _waiting_on_locks(watcher, 2)
        await holder.rollback()
        await asyncio.gather(finish, message)

    settled = await api.runs.get(row.id)
    async with api.db.read() as s:
        pending = await s.scalar(
            select(func.count()).where(MessageRow.session_id == row.id, MessageRow.consumed.is_(False))
        )
    # Either the runner settled first (the message then re-opened the session), or the message came first (the
    # runner then stayed working to read it): in both cases the session will run again and read the message.
    assert (settled.status, settled.status_detail) in (("resuming", None), ("running", "working")), settled.status
    assert settled.claimed_by is None
    assert pending == 1
    assert await runner.runs.claim_next("host:2:r", 60) is not None


async def test_concurrent_claims_take_each_session_once(two: tuple[Services, Services, Principal, str]) -> None:
    a, b, principal, org = two
    created = [await a.sessions.create(principal, org, NewSession(prompt=f"task {i}")) for i in range(20)]

    async def drain(services: Services, runner: str) -> list[str]:
        got = []
        while (row := await services.runs.claim_next(runner, 60)) is not None:
            got.append(row.id)
        return got

    results = await asyncio.gather(drain(a, "h:1:a"), drain(b, "h:2:b"), drain(a, "h:3:c"), drain(b, "h:4:d"))
    taken = [sid for result in results for sid in result]
    assert sorted(taken) == sorted(r.id for r in created)
