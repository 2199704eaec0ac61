"""PostgreSQL LISTEN: one connection per process that wakes its event feed and its webhook deliverer (contract §9).

Writers need no code for it: triggers (migration 0011) ``pg_notify`` at commit whenever rows are inserted into
``events`` (channel ``codeyard_events``) or ``webhook_outbox`` (``codeyard_webhooks``). A ``Listener`` holds one
autocommit psycopg connection that LISTENs on both channels while anything in the process subscribes, and calls
the subscribers of a channel, on the event loop, for each notification.

Notifications are a wake-up, never the data: a subscriber reads the table when called. Whatever is written while
the connection is down (a database restart, ``pg_terminate_backend``) is found because every subscriber is also
called once each time the connection is (re)established, after its ``LISTEN``; subscribers keep a slower poll
as the fallback. Reconnection backs off from 0.1 s to ``max_backoff``; an idle connection is checked every
``keepalive`` seconds, so one that died silently is replaced.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import psycopg

log = structlog.get_logger("codeyard.notify")

EVENTS = "codeyard_events"
WEBHOOKS = "codeyard_webhooks"
CHANNELS = (EVENTS, WEBHOOKS)


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (any driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    def __init__(self, url: str, *, keepalive: float = 30.0, max_backoff: float = 5.0) -> None:
        self.conninfo = conninfo(url)
        self.keepalive = keepalive
        self.max_backoff = max_backoff
        self._subscribers: dict[str, list[Callable[[], None]]] = {channel: [] for channel in CHANNELS}
        self._task: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.connected = asyncio.Event()
        """Set while the connection is up and LISTENing (the subscribers may then poll less often)."""
        self.connections = 0
        """How many times the connection was (re)established."""

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()

    def subscribe(self, channel: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on this event loop; cheap, must not raise) after each notification on ``channel`` and
        after each (re)connection; returns the function that unsubscribes. The connection is opened with the first
        subscription and closed after the last one leaves."""
        if channel not in self._subscribers:
            raise ValueError(f"unknown channel {channel!r}")
        self._subscribers[channel].append(callback)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="pg-listener")

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers[channel].remove(callback)
            if not any(self._subscribers.values()) and self._task is not None:
                self._task.cancel()
                self._ending.add(self._task)
                self._task.add_done_callback(self._ending.discard)
                self._task = None

        return unsubscribe

    async def close(self) -> None:
        """Stop listening and close the connection (a clean shutdown leaves no task and no connection)."""
        tasks = [*self._ending, *([self._task] if self._task is not None else [])]
        self._task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def backend_pid(self) -> int | None:
        """The server process of the LISTEN connection, while it is up (for diagnostics)."""
        conn = self._conn
        return conn.info.backend_pid if conn is not None and self.is_connected else None

    def _call(self, channel: str | None) -> None:
        for name, callbacks in self._subscribers.items():
            if channel is None or name == channel:
                for callback in list(callbacks):
                    try:
                        callback()
                    except Exception:  # a subscriber's bug must not end the listener
                        log.exception("notification subscriber failed", channel=name)

    async def _run(self) -> None:
        backoff = 0.1
        try:
            while True:
                before = self.connections
                try:
                    await self._listen()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if self.connections != before:  # it was up: start the backoff again
                        backoff = 0.1
                    log.warning(
                        "LISTEN connection lost; reconnecting", error=f"{type(exc).__name__}: {exc}"[:300], wait=backoff
                    )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        finally:
            self.connected.clear()

    async def _listen(self) -> None:
        import psycopg  # only processes on PostgreSQL pay for the import

        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=5)
        self._conn = conn
        try:
            for channel in CHANNELS:
                await conn.execute(f"LISTEN {channel}")  # constant names: no user input
            self.connections += 1
            self.connected.set()
            self._call(None)  # catch up on whatever was written while not listening
            while True:
                async for notify in conn.notifies(timeout=self.keepalive):
                    self._call(notify.channel)
                await conn.execute("SELECT 1")  # idle for a while: make sure the connection is still alive
        finally:
            self.connected.clear()
            self._conn = None
            with contextlib.suppress(Exception):
                await conn.close()


class DataVersion:
    """SQLite's cheap "did another connection commit?": ``PRAGMA data_version`` on a connection of its own.

    The value changes whenever any other connection (of this process or another) commits to the file; reading it
    costs microseconds and takes no lock a writer waits for, so a process can look every few milliseconds and read
    the tables only when something changed."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=0.05, isolation_level=None, check_same_thread=False)
        self._version = self._read()

    def _read(self) -> int:
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def changed(self) -> bool:
        """Whether anything was committed since the last call (a failed look counts as a change)."""
        try:
            version = self._read()
        except sqlite3.Error:
            return True
        if version == self._version:
            return False
        self._version = version
        return True

    def close(self) -> None:
        self._conn.close()
