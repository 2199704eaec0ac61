"""The event feed behind the live streams (contract §10): one reader of the events table per process, fanned
out to bounded per-client queues.

While anyone streams, one task reads the events written since the last read (``pk`` order) and offers them to
every subscription of their org (and session). It reads when this process commits a write (``kick``, wired to
``Database.commit_listeners``) and at least every ``poll_interval`` seconds, which is how events written by
another process on the same database arrive. ``kick`` is also the seam for PostgreSQL: a task that LISTENs on a
channel the writers NOTIFY calls it, and the poll becomes a fallback.

Memory stays bounded: a subscription holds at most ``queue_size`` events; one that falls further behind (a slow
client) is cut, and its client resumes from the table with ``Last-Event-ID``. A stream replays from the table
after subscribing and skips what it already sent, so it has no gap and no duplicate.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codeyard.storage.db import Database
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


class EventFeed:
    def __init__(self, db: Database, *, poll_interval: float = 0.25, queue_size: int = 1000, batch: int = 500) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.queue_size = queue_size
        self.batch = batch
        self._subscriptions: set[Subscription] = set()
        self._last = 0
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

    @contextlib.asynccontextmanager
    async def subscribe(self, org_id: str, session_id: str | None = None) -> AsyncIterator[Subscription]:
        """A subscription to the events written from now on (the caller replays older ones from the table)."""
        subscription = Subscription(org_id, session_id, self.queue_size)
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._task is None:
                self._last = await self.db.read_batch(lambda s: int(s.scalar(select(func.max(EventRow.pk))) or 0))
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

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while self._subscriptions:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.poll_interval)
            wake.clear()
            try:
                items = await self.db.read_batch(self._read)
            except Exception:  # a failed read (database restarting) must not end the feed: the next poll retries
                log.exception("event feed read failed")
                continue
            if not items:
                continue
            self._last = items[-1].row.pk
            for subscription in list(self._subscriptions):
                subscription.offer(items)
            if len(items) == self.batch:
                wake.set()  # more are waiting
        self._task = None

    def _read(self, s: Session) -> list[FeedItem]:
        rows = s.execute(
            select(EventRow, AgentSessionRow.org_id)
            .join(AgentSessionRow, AgentSessionRow.id == EventRow.session_id)
            .where(EventRow.pk > self._last)
            .order_by(EventRow.pk)
            .limit(self.batch)
        ).all()
        return [FeedItem(row, org_id) for row, org_id in rows]
