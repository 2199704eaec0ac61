"""``Database.read_rows`` on SQLite reads on the event loop, and moves to a worker thread when SQLite is busy.

The database file is the test's own: these tests speak of SQLite's locks, whatever database the suite runs on."""

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import func, select, table

from codeyard.storage.db import Database
from codeyard.storage.prepared import Prepared, Reader

_COUNT = Prepared(select(func.count()).select_from(table("t")))


def _count(reader: Reader) -> int:
    return int(reader.rows(_COUNT)[0][0])


async def _database(tmp_path: Path) -> Database:
    path = tmp_path / "loop.sqlite"
    setup = sqlite3.connect(path)
    try:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x INTEGER)")
        setup.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5)])
        setup.commit()
    finally:
        setup.close()
    return Database(f"sqlite+aiosqlite:///{path}")


async def test_a_read_sees_committed_rows_and_runs_on_the_loop(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        seen: list[str] = []

        def read(reader: Reader) -> int:
            seen.append(threading.current_thread().name)
            return _count(reader)

        assert await db.read_rows(read) == 5
        assert seen == [threading.main_thread().name]
    finally:
        await db.dispose()


async def test_a_read_that_finds_the_database_locked_waits_on_a_thread_not_on_the_loop(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    holder = sqlite3.connect(tmp_path / "loop.sqlite", isolation_level=None, check_same_thread=False)
    try:
        # An exclusive-mode connection that has written keeps every other connection out, WAL or not.
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO t VALUES (99)")
        holder.execute("COMMIT")
        ticks = 0
        threads: list[str] = []

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        def read(reader: Reader) -> int:
            threads.append(threading.current_thread().name)
            return _count(reader)

        async def release_later() -> None:
            await asyncio.sleep(1.0)
            holder.close()

        ticker = asyncio.create_task(tick())
        releaser = asyncio.create_task(release_later())
        try:
            assert await db.read_rows(read) == 6
        finally:
            ticker.cancel()
            await releaser
        main = threading.main_thread().name
        assert threads[-1] != main, threads  # answered from a worker thread
        assert ticks >= 3  # the loop went on while the read waited there
        threads.clear()
        assert await db.read_rows(read) == 6
        assert threads == [main]  # once the lock is gone, reads are back on the loop
    finally:
        holder.close()
        await db.dispose()
