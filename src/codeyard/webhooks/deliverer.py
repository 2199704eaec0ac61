"""The deliverer: fans new outbox messages out to webhooks and sends due deliveries, each in its own task.

It wakes at once when a commit in this process wrote outbox messages, when the next pending delivery falls due (a
retry's time), and every ``poll`` seconds, so that on SQLite a message written by another process is seen within one
poll. On PostgreSQL it also wakes at once for a message written by any process: the outbox's insert trigger NOTIFYs
``codeyard_webhooks`` at commit, and the process's LISTEN connection (``storage.notify``) calls it (and once after
each connect), so there the poll is only a fallback, at least ``LISTENED_POLL`` seconds apart: an idle server does
not query the outbox ten times a second in every process. A crash loses nothing: messages stay in the outbox until
fanned out, and a claimed delivery whose deliverer died is taken over at the first look after its lease ends.
"""

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from codeyard.config import Settings
from codeyard.errors import is_out_of_storage
from codeyard.services import outbox
from codeyard.services.clock import Clock, system_clock
from codeyard.services.webhooks import Job, Webhooks
from codeyard.webhooks.sender import Sender

log = structlog.get_logger("codeyard.webhooks")
FAN_OUT_BATCH = 500
RETENTION = 7 * 86400.0
"""Finished deliveries stay listed this long (seconds) by default; ``CODEYARD_WEBHOOK_DELIVERY_RETENTION_DAYS``."""
PRUNE_EVERY = 3600.0
LISTENED_POLL = 5.0
"""Seconds between fallback looks where LISTEN/NOTIFY reports every process's new messages (PostgreSQL)."""


class Deliverer:
    def __init__(
        self,
        webhooks: Webhooks,
        sender: Sender,
        *,
        poll: float,
        listened_poll: float = LISTENED_POLL,
        timeout: float,
        concurrency: int = 32,
        clock: Clock = system_clock,
        retention: float = RETENTION,
    ) -> None:
        self.webhooks = webhooks
        self.sender = sender
        self.poll = poll
        self.listened_poll = listened_poll
        self.lease = timeout + 30.0
        self.concurrency = concurrency
        self.clock = clock
        self.retention = retention
        self.in_flight: dict[str, tuple[Job, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._pruned_at = 0.0
        self._new = False
        """A commit in this process wrote outbox messages: the next round fans out without looking first."""
        self._listened = False
        """LISTEN/NOTIFY reports other processes' messages: the poll is only a fallback."""
        self._next_due: float | None = None
        """When the next pending delivery is due, as the last round saw it."""
        self._recheck = False
        """The last round fanned out or claimed: the next one comes after ``poll`` to see what is left."""

    def wake(self) -> None:
        self._wake.set()

    def _written(self) -> None:
        self._new = True
        self._wake.set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def written() -> None:  # may run on a worker thread
            loop.call_soon_threadsafe(self._written)

        self._unsubscribe = outbox.on_commit(written)
        listener = self.webhooks.db.listener()
        if listener is not None:  # PostgreSQL: messages written by other processes (and once after each connect)
            local = self._unsubscribe
            remote = listener.subscribe(outbox.NOTIFY_CHANNEL, self._written)
            self._listened = True

            def unsubscribe() -> None:
                local()
                remote()

            self._unsubscribe = unsubscribe
        self._loop = asyncio.create_task(self._run(), name="webhook-deliverer")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        unfinished = [job for job, task in self.in_flight.values() if not task.done()]
        for _, task in self.in_flight.values():
            task.cancel()
        await asyncio.gather(*(task for _, task in self.in_flight.values()), return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.webhooks.release(unfinished)
        await self.sender.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_out_of_storage(exc):  # one line, no traceback: the API already answers 507 for the same cause
                    log.warning("webhook delivery waits: the server is out of storage")
                else:
                    log.exception("webhook delivery round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._wait())
            self._wake.clear()

    def _wait(self) -> float:
        """Seconds until the next round unless something wakes it: the poll, or less when a delivery falls due."""
        wait = max(self.poll, self.listened_poll) if self._listened and not self._recheck else self.poll
        if self._next_due is not None and self._next_due > self.clock():
            wait = min(wait, self._next_due - self.clock())
        return wait

    async def round(self) -> None:
        """Fan out what is new, then start the due deliveries this process has room for (and, once an hour,
        forget deliveries finished more than ``retention`` seconds ago)."""
        if self.clock() - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = self.clock()
            await self.webhooks.prune(self.retention)
        self._recheck = False
        if self._new:
            self._new, new, due = False, True, True
            self._next_due = None
        else:
            new, self._next_due = await self.webhooks.work()
            due = self._next_due is not None and self._next_due <= self.clock()
        if not (new or due):
            return
        self._recheck = True
        room = self.concurrency - len(self.in_flight)
        for job in await self.webhooks.take(room, self.lease, fan_out=FAN_OUT_BATCH if new else 0):
            task = asyncio.create_task(self._deliver(job), name=f"webhook-{job.delivery_id}")
            self.in_flight[job.delivery_id] = (job, task)

    async def _deliver(self, job: Job) -> None:
        try:
            outcome = await self.sender.send(job, self.clock())
            status = await self.webhooks.record(job, outcome)
            if status != "succeeded":
                log.info(
                    "webhook delivery failed",
                    delivery=job.delivery_id,
                    attempt=job.attempts,
                    status=status,
                    error=outcome.error,
                )
        finally:
            self.in_flight.pop(job.delivery_id, None)
            self._wake.set()


def build_deliverer(settings: Settings, webhooks: Webhooks) -> Deliverer:
    sender = Sender(timeout=settings.webhook_timeout, allow_private=settings.webhook_allow_private)
    return Deliverer(
        webhooks,
        sender,
        poll=settings.webhook_poll_interval,
        timeout=settings.webhook_timeout,
        retention=settings.webhook_delivery_retention_days * 86400.0,
    )
