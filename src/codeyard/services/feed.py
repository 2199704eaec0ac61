"""The event feed behind the live streams (contract §10): one reader of the events table per process, fanned
out to bounded per-client queues.

While anyone streams, one task reads the events written since the last read (``pk`` order) and offers them to
every subscription of their org (and session). It reads when this process commits a write (``kick``, wired to
``Database.commit_listeners``), when another process may have written, and at least every ``poll_interval``
seconds as the fallback:

- on PostgreSQL, writers ``NOTIFY`` at commit (a trigger, migration 0011) and the process's LISTEN connection
  (``storage.notify.Listener``) calls ``kick``; while that connection is up the fallback poll slows down to
  ``listen_poll_interval``;
- on SQLite, a dedicated connection looks at ``PRAGMA data_version`` every ``check_interval`` seconds and the
  feed reads only when another connection committed (and every ``listen_poll_interval`` seconds).

Gap-safe on PostgreSQL: a ``bigserial`` pk is taken at insert but becomes visible at commit, so pk 11 can be seen
before pk 10. The feed remembers each pk below its high-water mark it has not seen (a gap) and offers events in
pk order only up to the first open gap; later ones wait. A gap closes when its row arrives, or when it cannot
arrive any more: every transaction that was in flight when the gap was noticed has ended (the read snapshot's
``xmin`` passed the ``xmax`` recorded then) and ``gap_grace`` seconds went by (a rolled-back insert), or after
``gap_timeout`` seconds in any case (logged). ``settled`` is the pk up to which everything has been offered, so a
stream's replay from the table stops there and the feed's order takes over: no gap and no duplicate. SQLite has
one writer at a time, so its pks become visible in order and need none of this.

Memory stays bounded: a subscription holds at most ``queue_size`` events; one that falls further behind (a slow
client) is cut, and its client resumes from the table with ``Last-Event-ID``. A stream replays from the table
after subscribing and skips what it already sent, so it has no gap and no duplicate.
"""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from codeyard.storage.db import Database
from codeyard.storage.notify import EVENTS, DataVersion
from codeyard.storage.tables import AgentSessionRow, EventRow

log = structlog.get_logger("codeyard.feed")


@dataclass(frozen=True)
class FeedItem:
    row: EventRow
    org_id: str


class Subscription:
    """What one stream client has not received yet: events of one org, or of one session."""

    def __init__(self, org_id: str, session_id: str | None, capacity: int) -> None:
        self.org_id = org_id
        self.session_id = session_id
        self.capacity = capacity
        self.cut = False
        """It fell more than ``capacity`` events behind: its stream must end (the client resumes by replay)."""
        self._items: deque[EventRow] = deque()
        self._ready = asyncio.Event()

    def offer(self, items: Sequence[FeedItem]) -> None:
        if self.cut:
            return
        mine = [
            item.row
            for item in items
            if item.org_id == self.org_id and (self.session_id is None or item.row.session_id == self.session_id)
        ]
        if not mine:
            return
        if len(self._items) + len(mine) > self.capacity:
            self.cut = True
            self._items.clear()
        else:
            self._items.extend(mine)
        self._ready.set()

    async def next_batch(self) -> list[EventRow]:
        """The events offered since the last call (waits for at least one); empty once the subscription is cut."""
        while not self._items and not self.cut:
            self._ready.clear()
            await self._ready.wait()
        batch = list(self._items)
        self._items.clear()
        return [] if self.cut else batch


@dataclass(frozen=True)
class _Gap:
    noticed: float
    """When it was first seen missing (``time.monotonic``)."""
    xmax: int
    """The first transaction id not yet started when it was seen missing: any insert in flight then is below."""


@dataclass
class _Read:
    items: list[FeedItem]
    filled: list[FeedItem]
    xmin: int
    xmax: int


GAP_RECHECK = 0.1
"""Seconds between reads while a gap is open."""
INITIAL_WINDOW = 1000
"""On PostgreSQL, how many pks below the newest a starting feed checks for rows not yet visible."""


class EventFeed:
    def __init__(
        self,
        db: Database,
        *,
        poll_interval: float = 0.25,
        queue_size: int = 1000,
        batch: int = 500,
        listen_poll_interval: float = 2.0,
        check_interval: float = 0.025,
        gap_grace: float = 0.5,
        gap_timeout: float = 10.0,
        max_gaps: int = 10_000,
    ) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.listen_poll_interval = listen_poll_interval
        self.check_interval = check_interval
        self.queue_size = queue_size
        self.batch = batch
        self.gap_grace = gap_grace
        self.gap_timeout = gap_timeout
        self.max_gaps = max_gaps
        self.reads = 0
        """Full reads of the events table so far (the cheap ``data_version`` looks are not counted)."""
        self._subscriptions: set[Subscription] = set()
        self._last = 0
        """The highest pk read."""
        self._settled = 0
        """Every pk up to this one was offered, or will never be visible."""
        self._gaps: dict[int, _Gap] = {}
        self._held: dict[int, FeedItem] = {}
        """Read, above an open gap: offered once the gaps below are closed."""
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._start_lock: asyncio.Lock | None = None
        db.commit_listeners.append(self.kick)

    def kick(self) -> None:
        """Something may have been written: read the table now instead of at the next poll."""
        if self._wake is not None and self._task is not None:
            self._wake.set()

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    @property
    def settled(self) -> int | None:
        """The pk up to which a stream may replay from the table (later events come in order from the feed);
        ``None`` when there is no such bound (SQLite, or no feed running)."""
        return None if self.db.is_sqlite or self._task is None else self._settled

    @property
    def gaps(self) -> int:
        """Pks below the high-water mark not seen yet (PostgreSQL)."""
        return len(self._gaps)

    @contextlib.asynccontextmanager
    async def subscribe(self, org_id: str, session_id: str | None = None) -> AsyncIterator[Subscription]:
        """A subscription to the events written from now on (the caller replays older ones from the table, up to
        ``settled``)."""
        subscription = Subscription(org_id, session_id, self.queue_size)
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._task is None:
                await self.db.read_batch(self._start)
                self._wake = asyncio.Event()
                self._task = asyncio.create_task(self._run(), name="event-feed")
            self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _interval(self) -> float:
        listener = self.db.listener()
        interval = self.poll_interval
        if self.db.sqlite_path() is not None or (listener is not None and listener.is_connected):
            interval = max(interval, self.listen_poll_interval)
        if self._gaps:  # a rolled-back insert sends no notification: look again soon to close its gap
            interval = min(interval, GAP_RECHECK)
        return interval

    async def _wait(self, wake: asyncio.Event, watcher: DataVersion | None) -> None:
        """Until kicked, or (SQLite) another connection committed, or the fallback poll is due."""
        timeout = self._interval()
        if watcher is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not wake.is_set() and (remaining := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(self.check_interval, remaining))
            if watcher.changed():
                return

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        listener = self.db.listener()
        unsubscribe = listener.subscribe(EVENTS, self.kick) if listener is not None else None
        path = self.db.sqlite_path()
        watcher = DataVersion(path) if path is not None else None
        wake.set()  # what was committed between the start's read and the subscriptions above
        try:
            while self._subscriptions:
                await self._wait(wake, watcher)
                wake.clear()
                try:
                    read = await self.db.read_batch(self._read)
                except Exception:  # a failed read (database restarting) must not end the feed: the next poll retries
                    log.exception("event feed read failed")
                    continue
                items = self._advance(read)
                if items:
                    for subscription in list(self._subscriptions):
                        subscription.offer(items)
                if len(read.items) == self.batch:
                    wake.set()  # more are waiting
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if watcher is not None:
                watcher.close()
            if self._task is asyncio.current_task():
                self._task = None

    # -- reading (on a worker thread) --------------------------------------------------------------------
    def _query(self) -> Select[EventRow, str]:
        return select(EventRow, AgentSessionRow.org_id).join(AgentSessionRow, AgentSessionRow.id == EventRow.session_id)

    def _snapshot(self, s: Session) -> tuple[int, int]:
        if self.db.is_sqlite:
            return 0, 0
        row = s.execute(
            text(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
                "pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            )
        ).one()
        return int(row[0]), int(row[1])

    def _start(self, s: Session) -> None:
        """Where a starting feed begins: after the newest event, less any recent pk not visible yet (PostgreSQL)."""
        newest = int(s.scalar(select(func.max(EventRow.pk))) or 0)
        self._gaps.clear()
        self._held.clear()
        self._last = self._settled = newest
        if self.db.is_sqlite or newest == 0:
            return
        low = max(0, newest - INITIAL_WINDOW)
        seen = set(s.scalars(select(EventRow.pk).where(EventRow.pk > low)))
        missing = [pk for pk in range(low + 1, newest + 1) if pk not in seen]
        if not missing:
            return
        _, xmax = self._snapshot(s)
        now = time.monotonic()
        self._gaps = {pk: _Gap(now, xmax) for pk in missing}
        self._settled = missing[0] - 1
        rows = s.execute(self._query().where(EventRow.pk > self._settled).order_by(EventRow.pk)).all()
        self._held = {row.pk: FeedItem(row, org_id) for row, org_id in rows}

    def _read(self, s: Session) -> _Read:
        self.reads += 1
        xmin, _ = self._snapshot(s)  # before the rows: a transaction ended by then has its rows in the read
        rows = s.execute(self._query().where(EventRow.pk > self._last).order_by(EventRow.pk).limit(self.batch)).all()
        filled: list[FeedItem] = []
        if self._gaps:
            wanted = sorted(self._gaps)[:1000]
            filled = [
                FeedItem(row, org_id)
                for row, org_id in s.execute(self._query().where(EventRow.pk.in_(wanted)).order_by(EventRow.pk))
            ]
        _, xmax = self._snapshot(s)  # after the rows: a transaction in flight during the read is below this
        return _Read([FeedItem(row, org_id) for row, org_id in rows], filled, xmin, xmax)

    # -- ordering (on the event loop) --------------------------------------------------------------------
    def _advance(self, read: _Read) -> list[FeedItem]:
        """Take in one read; return what may be offered now, in pk order."""
        if self.db.is_sqlite:
            if read.items:
                self._last = self._settled = read.items[-1].row.pk
            return read.items
        now = time.monotonic()
        for item in read.filled:
            if self._gaps.pop(item.row.pk, None) is not None:
                self._held[item.row.pk] = item
        for item in read.items:
            pk = item.row.pk
            if pk > self._last + 1:
                missing = range(self._last + 1, pk)
                if len(self._gaps) + len(missing) > self.max_gaps:
                    log.warning("event feed: too many pks not visible; not waiting for them", skipped=len(missing))
                else:
                    self._gaps.update((gap, _Gap(now, read.xmax)) for gap in missing)
            self._held[pk] = item
            self._last = pk
        for pk, gap in list(self._gaps.items()):
            if now - gap.noticed >= self.gap_timeout:
                log.warning("event feed: an event pk stayed invisible; streams go on without it", pk=pk)
                del self._gaps[pk]
            elif now - gap.noticed >= self.gap_grace and read.xmin >= gap.xmax:
                del self._gaps[pk]  # every insert that could hold it has ended: rolled back
        bound = min(self._gaps) if self._gaps else self._last + 1
        ready = sorted(pk for pk in self._held if pk < bound)
        self._settled = bound - 1
        return [self._held.pop(pk) for pk in ready]
