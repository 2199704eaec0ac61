"""Pooled PostgreSQL connections are pinged only after being idle (``storage.db._ping_after_idle``): one whose
backend went away while it sat in the pool is replaced before use, and one in steady use is not pinged."""

import asyncio
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from codeyard.storage.db import Database
from codeyard.storage.notify import conninfo

pytestmark = pytest.mark.postgres


async def _backend_pid(db: Database) -> int:
    async with db.read() as s:
        return int(await s.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _terminate(postgres_url: str, pid: int) -> None:
    """Terminate the backend and wait until it is gone (its exit is asynchronous)."""
    async with await psycopg.AsyncConnection.connect(conninfo(postgres_url), autocommit=True) as other:
        await other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 30
        while True:
            cur = await other.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                return
            assert time.monotonic() < deadline, f"backend {pid} still there after pg_terminate_backend"
            await asyncio.sleep(0.02)


async def test_a_connection_closed_while_idle_is_replaced_before_use(postgres_url: str) -> None:
    db = Database(postgres_url, idle_ping=0.0)  # every checkout counts as after idle
    try:
        first = await _backend_pid(db)
        await _terminate(postgres_url, first)
        second = await _backend_pid(db)  # no error: the ping found the dead connection and the pool made another
        assert second not in (0, first)
        pool = db.write_engine.sync_engine.pool
        assert isinstance(pool, QueuePool) and pool.checkedin() == 1  # the dead connection is gone
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(postgres_url: str) -> None:
    """Without a ping the dead connection is only found by the statement itself; the pool then drops it, and the
    next statement runs on a new one. (This is the one-failure window the idle threshold accepts.)"""
    db = Database(postgres_url, idle_ping=3600.0)
    try:
        first = await _backend_pid(db)
        await _terminate(postgres_url, first)
        with pytest.raises(OperationalError):
            await _backend_pid(db)
        second = await _backend_pid(db)
        assert second not in (0, first)
    finally:
        await db.dispose()
