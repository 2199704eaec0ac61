"""The database handle: async engines, short transactions, migrations at start.

SQLite has one writer at a time. Write transactions therefore start with ``BEGIN IMMEDIATE`` (so a
transaction never fails half-way when it upgrades its lock) and, inside one process, queue on an
``asyncio.Lock`` instead of spinning on ``busy_timeout``; reads use WAL snapshots and never wait.
PostgreSQL needs none of this and gets one ordinary engine.
"""

import asyncio
import contextlib
import fcntl
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool, PoolProxiedConnection, StaticPool

from codeyard.errors import ConflictError
from codeyard.storage.notify import Listener
from codeyard.storage.prepared import CoreReader, Reader, SqliteReader

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 726_143_001
IDLE_PING_S = 1.0
"""A pooled PostgreSQL connection idle longer than this is pinged before use (``_ping_after_idle``)."""


class Database:
    def __init__(self, url: str, *, echo: bool = False, idle_ping: float = IDLE_PING_S) -> None:
        self.url = url
        self.idle_ping = idle_ping
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            self.write_engine = self._sqlite_engine(url, "BEGIN IMMEDIATE", echo)
            self.read_engine = self._sqlite_engine(url, "BEGIN", echo)
        else:
            self.write_engine = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=20, pool_use_lifo=True, json_serializer=_json_without_nul
            )
            _strip_nul_from_parameters(self.write_engine.sync_engine)
            _ping_after_idle(self.write_engine.sync_engine, idle_ping)
            self.read_engine = self.write_engine
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._batch_engine: Engine | None = None
        self._snapshot_engine: Engine | None = None
        self._on_loop: tuple[Engine, PoolProxiedConnection] | None = None
        """SQLite: the engine and the one connection the event loop reads on (``read_rows``)."""
        self._listener: Listener | None = None
        self.commit_listeners: list[Callable[[], None]] = []
        """Called on the event loop after each write transaction of this process commits (the event feed's
        wake-up); they must be cheap and must not raise."""

    @staticmethod
    def _sqlite_engine(url: str, begin: str, echo: bool) -> AsyncEngine:
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, json_serializer=_json_without_nul)

        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _strip_nul_from_parameters(engine.sync_engine)

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot; never takes the write lock."""
        async with self._reader() as session, session.begin():
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One short write transaction, committed on success. Do not nest.

        A unique constraint that fails (two writers racing to create the same thing) is a ``ConflictError``.
        """
        try:
            if self._write_lock is None:
                async with self._writer() as session, session.begin():
                    yield session
            else:
                async with self._write_lock, self._writer() as session, session.begin():
                    yield session
        except IntegrityError as exc:
            raise ConflictError("that conflicts with an existing resource") from exc
        self._committed()

    def _committed(self) -> None:
        for listener in self.commit_listeners:
            listener()

    async def write_batch(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction on a worker thread, with one thread hop for all its statements.

        For hot paths (the runner's per-step journal): through the async driver every statement, the ``BEGIN``,
        the commit and the pool's reset each cost a hop between the event loop and the driver's thread.
        """
        if self._write_lock is None:
            result = await asyncio.to_thread(self._run_batch, work)
        else:
            async with self._write_lock:
                result = await asyncio.to_thread(self._run_batch, work)
        self._committed()
        return result

    async def read_batch(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one read-only snapshot on a worker thread: the hot API reads (authentication, a session,
        its messages) cost one thread hop instead of several per statement. ``work`` gets a synchronous ORM
        session; the objects it returns stay usable afterwards."""
        return await asyncio.to_thread(self._run_snapshot, work)

    async def read_rows(self, work: Callable[[Reader], T]) -> T:
        """For the hottest reads (a session, its messages): ``work`` runs prepared statements
        (``storage.prepared``) in one snapshot and gets plain rows. The ORM's unit of work and its loading of
        entities cost more than the query.

        On SQLite ``work`` runs on the event loop itself, on a connection of its own, straight on the driver: a WAL
        snapshot read of a few indexed rows from the page cache takes less than the hop to a worker thread and
        back, and less than SQLAlchemy's execution machinery (issue 12, "Hot reads"). A reader waits on no writer in
        WAL mode; should SQLite still answer "busy" (a WAL reset in flight), that connection gives up after
        ``LOOP_READ_BUSY_MS`` and the read goes to a worker thread. On PostgreSQL it runs on a worker thread."""
        if self.is_sqlite:
            try:
                return self._read_on_loop(work)
            except sqlite3.OperationalError as exc:
                if not _is_busy_message(str(exc)):
                    raise
            except OperationalError as exc:  # raised while connecting, through SQLAlchemy
                if not _is_busy_message(str(exc.orig)):
                    raise
        return await asyncio.to_thread(self._run_rows, work)

    def _read_on_loop(self, work: Callable[[Reader], T]) -> T:
        if self._on_loop is None:
            # No NUL stripping (SQLite compares a NUL in a bound value like any other character; it is stripped
            # on writes so that both databases store the same text) and no SQLAlchemy events: the statements go
            # to the driver (``SqliteReader``).
            engine = create_engine(
                sync_url(self.url), poolclass=StaticPool, connect_args={"timeout": LOOP_READ_BUSY_MS / 1000}
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "connect", _short_busy_timeout)
            try:
                self._on_loop = (engine, engine.raw_connection())
            except BaseException:
                engine.dispose()  # connecting found the database busy: the next read tries again
                raise
        engine, proxied = self._on_loop
        conn = proxied.driver_connection
        assert isinstance(conn, sqlite3.Connection)
        conn.execute("BEGIN")
        try:
            return work(SqliteReader(conn, engine.dialect))
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # a read: nothing to keep

    def _snapshot(self) -> Engine:
        if self._snapshot_engine is None:
            self._snapshot_engine = self._sync_engine("BEGIN") if self.is_sqlite else self._batch()
        return self._snapshot_engine

    def _run_snapshot(self, work: Callable[[Session], T]) -> T:
        with Session(self._snapshot(), expire_on_commit=False) as session, session.begin():
            return work(session)

    def _run_rows(self, work: Callable[[Reader], T]) -> T:
        with self._snapshot().begin() as conn:
            return work(CoreReader(conn))

    def _batch(self) -> Engine:
        if self._batch_engine is None:
            self._batch_engine = self._sync_engine("BEGIN IMMEDIATE")
        return self._batch_engine

    def _run_batch(self, work: Callable[[Connection], T]) -> T:
        self._batch()
        assert self._batch_engine is not None
        try:
            with self._batch_engine.begin() as conn:
                return work(conn)
        except IntegrityError as exc:
            raise ConflictError("that conflicts with an existing resource") from exc

    def _sync_engine(self, begin: str) -> Engine:
        if not self.is_sqlite:
            engine = create_engine(
                sync_url(self.url), pool_size=8, max_overflow=8, pool_use_lifo=True, json_serializer=_json_without_nul
            )
            _strip_nul_from_parameters(engine)
            _ping_after_idle(engine, self.idle_ping)
            return engine
        engine = create_engine(
            sync_url(self.url),
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
            json_serializer=_json_without_nul,
        )
        _strip_nul_from_parameters(engine)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine

    def listener(self) -> Listener | None:
        """This process's PostgreSQL LISTEN connection (opened by its first subscriber); ``None`` on SQLite."""
        if self.is_sqlite:
            return None
        if self._listener is None:
            self._listener = Listener(self.url)
        return self._listener

    def sqlite_path(self) -> str | None:
        """The SQLite database file, ``None`` on PostgreSQL (or for an in-memory database)."""
        database = make_url(self.url).database if self.is_sqlite else None
        return database if database and database != ":memory:" else None

    async def ping(self) -> None:
        async with self.read() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        if self._on_loop is not None:
            self._on_loop[1].close()
            self._on_loop[0].dispose()
            self._on_loop = None
        for engine in (self._batch_engine, self._snapshot_engine):
            if engine is not None:
                engine.dispose()
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_without_nul(v) for v in value) if not hasattr(value, "_fields") else value
    return value


def _json_without_nul(value: Any) -> str:
    return json.dumps(_without_nul(value))


def _strip_nul_from_parameters(engine: Engine) -> None:
    """Text the server itself stores (command output, model replies) may hold NUL characters, which PostgreSQL
    cannot store: they become U+FFFD, the same on both databases. Requests never get here with NUL (the API
    answers 422); bytes parameters are left alone."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _clean(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> Any:
        if executemany and isinstance(parameters, list):
            return statement, [_without_nul(p) for p in parameters]
        return statement, _without_nul(parameters)


def _ping_after_idle(engine: Engine, idle: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections idle longer than ``idle`` seconds only (the pools are LIFO, so
    a busy process keeps reusing the same few). ``pool_pre_ping`` costs a round trip at every checkout: it was one
    statement in five of a busy worker's. A connection left idle (a restart, a proxy's idle timeout) is pinged and
    replaced before use when the ping fails. One used within the last ``idle`` seconds is not: should the server
    go away in that moment, its statement fails once, and SQLAlchemy then drops every older connection of the
    pool."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(f"a pooled connection was closed while idle: {exc}") from exc
            raise


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


LOOP_READ_BUSY_MS = 50
"""How long a read on the event loop lets SQLite wait on a lock before it moves to a worker thread."""


def _short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={LOOP_READ_BUSY_MS}")
    cur.close()


def _is_busy_message(message: str) -> bool:
    lowered = message.lower()
    return "locked" in lowered or "busy" in lowered


def sync_url(url: str) -> str:
    """The synchronous driver URL Alembic uses for the same database."""
    return url.replace("sqlite+aiosqlite", "sqlite").replace("postgresql+asyncpg", "postgresql+psycopg")


def migrate(url: str) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        if url.startswith("sqlite"):
            db_path = Path(url.split(":///", 1)[1])
            db_path.parent.mkdir(parents=True, exist_ok=True)
            with open(db_path.with_name(db_path.name + ".migrate-lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                with engine.begin() as conn:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
        else:
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
    finally:
        engine.dispose()
