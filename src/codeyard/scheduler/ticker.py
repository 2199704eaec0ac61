"""The schedule ticker every ``serve`` process runs: claim due schedules, start their sessions, follow outcomes.

Several processes may tick one database; the claim is a compare-and-set plus a unique run row per due
time (see ``codeyard.services.schedules``), so each due time starts exactly one session whoever wins.

Misfire policy: a schedule whose ``next_run_at`` lies further back than one due time (the server was down)
fires once, for the latest due time not after now; the older due times are skipped and added to
``skipped_count``. With ``interval_count`` N only every N-th due time fires, counting from the first.

``Ticker.tick(now)`` does one pass and is what tests call with their own clock; ``start``/``stop`` run it
in a loop that sleeps until the next due time, at most ``interval`` seconds.
"""

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from codeyard.config import Settings
from codeyard.domain.cron import CronError, due_times, next_fire, parse_zone
from codeyard.services.clock import Clock
from codeyard.services.container import Services
from codeyard.services.schedule_runs import Claim, DueSchedule, ScheduleRuns, Ticket
from codeyard.services.schedules import ONE_TIME, to_datetime, to_epoch

log = structlog.get_logger("codeyard.scheduler")

GRACE = 30.0
"""Seconds a claimed run may stay without its session before another ticker takes it over (a crash)."""
BATCH = 500
"""Due schedules claimed per transaction."""
REVIEW = 250
"""Unsettled runs read per tick (their sessions' outcomes); the ticker pages through them across ticks."""
RESCAN = 300.0
"""Seconds between reviews that start from the first run of the table rather than from the oldest run found
unsettled (on PostgreSQL a run may commit after a higher-numbered one)."""
_WALK = 1000


@dataclass
class TickReport:
    """What one tick did, for logs, tests and the benchmark."""

    claimed: int = 0
    sessions: list[str] = field(default_factory=list)
    messages: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: int = 0
    settled: int = 0
    recovered: int = 0


def plan(due: DueSchedule, now: datetime) -> Claim:
    """The claim for one due schedule at ``now``: which due time fires, and the next ``next_run_at``."""
    expected = due.next_run_at
    if due.schedule_type == ONE_TIME:
        return Claim(due.schedule_id, expected, fire_at=expected, next_run_at=None, slots=1, skipped=0, enabled=False)
    try:
        if not due.frequency:
            raise CronError("frequency", "the schedule has no frequency")
        zone = parse_zone(due.timezone)
        latest, slots = to_datetime(expected), 1
        upcoming = next_fire(due.frequency, zone, latest)
        while upcoming <= now:  # missed due times (downtime): walk to the latest, which is the one that fires
            later = due_times(due.frequency, zone, latest, now, _WALK)
            latest, slots = later[-1], slots + len(later)
            upcoming = next_fire(due.frequency, zone, latest)
    except CronError as exc:
        message = f"the schedule stopped: its next run time cannot be computed ({exc.message})"
        return Claim(due.schedule_id, expected, None, None, slots=0, skipped=0, enabled=False, error=message)
    every = due.interval_count or 1
    first, last = due.due_count, due.due_count + slots - 1
    fires = last % every == 0
    # Slots in [first, last) that would have fired: multiples of `every` in that range.
    skipped = (last - 1) // every - (first - 1) // every
    return Claim(
        due.schedule_id,
        expected,
        fire_at=to_epoch(latest) if fires else None,
        next_run_at=to_epoch(upcoming),
        slots=slots,
        skipped=skipped,
    )


class Ticker:
    def __init__(
        self,
        schedules: ScheduleRuns,
        clock: Clock,
        *,
        interval: float = 5.0,
        grace: float = GRACE,
        batch: int = BATCH,
        review: int = REVIEW,
    ) -> None:
        self.schedules = schedules
        self.clock = clock
        self.interval = interval
        self.grace = grace
        self.batch = batch
        self.review = review
        self._start: int | None = None
        """Where a pass over the unsettled runs begins: the oldest one found in the previous pass."""
        self._cursor: int | None = None
        self._pass_low: int | None = None
        self._last_rescan = float("-inf")
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: float | None = None) -> TickReport:
        """One pass at ``now`` (default: the clock): fire due schedules, then settle finished runs and recover
        runs a dead process left unspawned (firing first keeps the lateness low)."""
        now = self.clock() if now is None else now
        report = TickReport()
        while True:
            due = await self.schedules.due(now, self.batch)
            if not due:
                break
            moment = to_datetime(now)
            claims = [plan(d, moment) for d in due] if len(due) < 50 else await asyncio.to_thread(_plan_all, due, now)
            claimed = await self.schedules.claim(claims, now)
            report.claimed += len(claimed.won)
            report.skipped += sum(c.skipped for c in claims if c.schedule_id in claimed.won)
            await self._spawn(claimed.tickets, report)
            if len(due) < self.batch or not claimed.won:
                break
        await self._review(now, report)
        return report

    async def _review(self, now: float, report: TickReport) -> None:
        """Read the next page of unsettled runs; a pass that reaches the newest restarts from the oldest."""
        if now - self._last_rescan >= RESCAN:
            self._start = self._cursor = self._pass_low = None
            self._last_rescan = now
        review = await self.schedules.review_runs(self._cursor, now, self.grace, self.review)
        lows = [pk for pk in (self._pass_low, review.first_pending) if pk is not None]
        self._pass_low = min(lows) if lows else None
        if review.exhausted:
            if self._pass_low is not None:
                self._start = self._pass_low
            elif review.last_pk is not None:
                self._start = review.last_pk + 1
            self._cursor, self._pass_low = self._start, None
        else:
            assert review.last_pk is not None
            self._cursor = review.last_pk + 1
        report.settled = review.settled
        if review.stale:
            tickets = await self.schedules.reclaim(review.stale, now, self.grace)
            report.recovered = len(tickets)
            await self._spawn(tickets, report)

    async def _spawn(self, tickets: list[Ticket], report: TickReport) -> None:
        if not tickets:
            return
        spawned = await self.schedules.spawn(tickets)
        report.sessions += spawned.sessions
        report.messages += spawned.messages
        report.failures += spawned.failures
        if spawned.orphaned_creators:
            log.warning("schedule creator no longer exists; fired as the system user", runs=spawned.orphaned_creators)
        if spawned.duplicates:
            log.error("duplicate session for a due time was terminated", sessions=[s for _, s in spawned.duplicates])

    # -- background loop -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="schedule-ticker")
        log.info("schedule ticker started", interval=self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                report = await self.tick()
                if report.claimed or report.settled or report.recovered or report.failures:
                    log.info(
                        "schedules ticked",
                        fired=len(report.sessions) + report.messages,
                        failed=len(report.failures),
                        skipped=report.skipped,
                        settled=report.settled,
                        recovered=report.recovered,
                    )
                earliest = await self.schedules.earliest_due()
            except Exception:  # the loop is a process edge: log, wait, try again
                log.exception("schedule tick failed")
                earliest = None
            delay = self.interval if earliest is None else min(self.interval, earliest - self.clock())
            await asyncio.sleep(max(delay, 0.05))


def _plan_all(due: list[DueSchedule], now: float) -> list[Claim]:
    moment = to_datetime(now)
    return [plan(d, moment) for d in due]


def build_ticker(settings: Settings, services: Services) -> Ticker:
    """The ticker of a ``serve`` process (``cli/server.py`` starts and stops it with the application)."""
    return Ticker(services.schedule_runs, services.clock, interval=settings.scheduler_interval)
