"""Firing schedules exactly once per due time: claim, spawn, review and reclaim (see ``services.schedules``).

1. ``claim`` moves each due schedule's ``next_run_at`` with a compare-and-set and, in the same transaction,
   inserts one ``schedule_runs`` row per fired due time (unique on ``(schedule_id, due_at)``). A replica that
   loses the race updates nothing and inserts nothing.
2. ``spawn`` starts the session (or sends the message) for each claimed run, then links the run to it.
   Each spawned session carries the run's ``pk`` in its ``request``, so a run found unlinked later (the
   process died between the session and the link) is linked to that session instead of spawning again.
3. ``review_runs`` settles finished runs into the schedule's failure counters and hands back the ones left
   unspawned by a dead process; ``reclaim`` takes those over with a compare-and-set on the run row (a lease).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.lifecycle import SessionStatus, StatusDetail
from codeyard.errors import CodeyardError
from codeyard.services import outbox
from codeyard.services.clock import Clock, system_clock
from codeyard.services.principal import Principal, Role
from codeyard.services.schedules import (
    SYSTEM_USER_ID,
    to_datetime,
)
from codeyard.services.sessions import NewSession, Sessions
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, Schedule, ScheduleRun, ServiceUser

_CLAIM_CHUNK = 200
_SPAWN_FLUSH = 50


@dataclass(frozen=True)
class DueSchedule:
    """What the ticker needs to plan a due schedule's claim."""

    schedule_id: str
    next_run_at: float
    schedule_type: str
    frequency: str | None
    timezone: str
    interval_count: int | None
    due_count: int


@dataclass(frozen=True)
class Claim:
    """The ticker's plan for one due schedule, applied only if ``next_run_at`` still equals ``expected``."""

    schedule_id: str
    expected: float
    fire_at: float | None
    """The due time to fire, or None when ``interval_count`` skips this one."""
    next_run_at: float | None
    slots: int
    """Due times passed, added to ``due_count``."""
    skipped: int
    """Missed due times that would have fired, added to ``skipped_count``."""
    enabled: bool = True
    error: str | None = None
    """Set when no next time can be computed: the schedule stops and the reason is its last error."""


@dataclass(frozen=True)
class Ticket:
    """A claimed run, ready to spawn: the schedule's fields as of the claim."""

    run_pk: int
    schedule_id: str
    org_id: str
    due_at: float
    name: str
    prompt: str
    playbook_id: str | None
    tags: tuple[str, ...]
    target_devin_id: str | None
    created_by: str | None
    user_id: str | None


@dataclass
class ClaimResult:
    won: set[str] = field(default_factory=set)
    """Schedules whose compare-and-set succeeded (this process handled their due time)."""
    tickets: list[Ticket] = field(default_factory=list)
    """The runs to spawn (due times that fire; ``interval_count`` may skip some)."""


@dataclass
class SpawnReport:
    sessions: list[str] = field(default_factory=list)
    messages: int = 0
    failures: list[str] = field(default_factory=list)
    duplicates: list[tuple[Ticket, str]] = field(default_factory=list)
    """Sessions started for a run that another process linked meanwhile (a stall longer than the lease);
    they are terminated and archived at once, so one session per due time stays live."""
    orphaned_creators: int = 0
    """Runs fired as the system user because the schedule's creator no longer exists."""


@dataclass(frozen=True)
class RunReview:
    """One page of unsettled runs, read in ``pk`` order from a cursor."""

    last_pk: int | None
    """The last run read (None: the page was empty)."""
    first_pending: int | None
    """The lowest run of the page that is still unsettled."""
    exhausted: bool
    """Fewer runs than the limit: the reader has reached the newest unsettled run."""
    settled: int
    stale: list[int]
    """Runs still unspawned after the grace period: a process died between claim and spawn."""


class ScheduleRuns:
    def __init__(self, db: Database, sessions: Sessions, clock: Clock = system_clock) -> None:
        self.db = db
        self.sessions = sessions
        self.clock = clock

    # -- firing: due and claim -------------------------------------------------------------------------
    async def earliest_due(self) -> float | None:
        """The soonest ``next_run_at`` of any enabled schedule (an index lookup), so the ticker can sleep."""
        async with self.db.read() as s:
            return await s.scalar(select(func.min(Schedule.next_run_at)).where(Schedule.enabled == true()))

    async def due(self, now: float, limit: int) -> list[DueSchedule]:
        """Enabled schedules whose ``next_run_at`` has come, oldest first: one query on ``ix_schedules_due``."""
        query = (
            select(
                Schedule.id,
                Schedule.next_run_at,
                Schedule.schedule_type,
                Schedule.frequency,
                Schedule.timezone,
                Schedule.interval_count,
                Schedule.due_count,
            )
            .where(Schedule.enabled == true(), Schedule.next_run_at <= now, Schedule.deleted_at.is_(None))
            .order_by(Schedule.next_run_at)
            .limit(limit)
        )
        async with self.db.read() as s:
            rows = (await s.execute(query)).all()
        return [DueSchedule(sid, at, kind, freq, zone, n, count) for sid, at, kind, freq, zone, n, count in rows if at]

    async def claim(self, claims: Sequence[Claim], now: float) -> ClaimResult:
        """Apply the claims that still hold (compare-and-set on ``next_run_at``) and record their runs.

        One transaction: the moved ``next_run_at`` and the new ``schedule_runs`` rows commit together, so a
        due time is either claimed with its run row or not at all.
        """
        result = ClaimResult()
        ordered = sorted(claims, key=lambda c: c.schedule_id)  # one lock order for every replica: no deadlock
        async with self.db.write() as s:
            for start in range(0, len(ordered), _CLAIM_CHUNK):
                chunk = ordered[start : start + _CLAIM_CHUNK]
                won = await self._compare_and_set(s, chunk, now)
                result.won |= won
                runs = [
                    {"schedule_id": c.schedule_id, "due_at": c.fire_at, "created_at": now}
                    for c in chunk
                    if c.schedule_id in won and c.fire_at is not None
                ]
                if runs:
                    result.tickets += await self._insert_runs(s, runs)
        return result

    async def _compare_and_set(self, s: AsyncSession, chunk: Sequence[Claim], now: float) -> set[str]:
        """The claims whose schedule still has the expected ``next_run_at``, applied; returns their ids.

        The rows are read under a row lock (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction already
        excludes every other writer), and the update repeats the comparison in its ``WHERE``.
        """
        table = cast(Table, Schedule.__table__)
        current = await s.execute(
            select(table.c.id, table.c.next_run_at)
            .where(
                table.c.id.in_([c.schedule_id for c in chunk]),
                table.c.enabled == true(),
                table.c.deleted_at.is_(None),
            )
            .order_by(table.c.id)
            .with_for_update()
        )
        live = dict(current.all())
        winners = [c for c in chunk if live.get(c.schedule_id) == c.expected]
        if not winners:
            return set()
        await s.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.next_run_at == bindparam("b_expected"))
            .values(
                next_run_at=bindparam("b_next"),
                due_count=table.c.due_count + bindparam("b_slots"),
                skipped_count=table.c.skipped_count + bindparam("b_skipped"),
                enabled=bindparam("b_enabled"),
            ),
            [
                {
                    "b_id": c.schedule_id,
                    "b_expected": c.expected,
                    "b_next": c.next_run_at,
                    "b_slots": c.slots,
                    "b_skipped": c.skipped,
                    "b_enabled": c.enabled,
                }
                for c in winners
            ],
        )
        for c in winners:
            if c.error:
                await s.execute(
                    update(table)
                    .where(table.c.id == c.schedule_id)
                    .values(
                        last_error_at=now,
                        last_error_message=c.error,
                        consecutive_failures=table.c.consecutive_failures + 1,
                    )
                )
        return {c.schedule_id for c in winners}

    async def _insert_runs(self, s: AsyncSession, runs: list[dict[str, Any]]) -> list[Ticket]:
        """Insert run rows; a due time that already has one (the unique key) was handled before: skip it."""
        dialect = sqlite if self.db.is_sqlite else postgresql
        table = cast(Table, ScheduleRun.__table__)
        stmt = (
            dialect.insert(table)
            .on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
            .returning(table.c.pk, table.c.schedule_id, table.c.due_at)
        )
        inserted = (await s.execute(stmt, runs)).all()
        return await self._tickets(s, inserted)

    @staticmethod
    async def _tickets(s: AsyncSession, runs: Iterable[tuple[int, str, float]]) -> list[Ticket]:
        ordered = sorted(runs)
        schedules = {
            row.id: row
            for row in await s.scalars(select(Schedule).where(Schedule.id.in_({sid for _, sid, _ in ordered})))
        }
        return [
            Ticket(
                run_pk=pk,
                schedule_id=sid,
                org_id=schedules[sid].org_id,
                due_at=due_at,
                name=schedules[sid].name,
                prompt=schedules[sid].prompt,
                playbook_id=schedules[sid].playbook_id,
                tags=tuple(schedules[sid].tags),
                target_devin_id=schedules[sid].target_devin_id,
                created_by=schedules[sid].created_by,
                user_id=schedules[sid].options.get("create_as_user_id"),
            )
            for pk, sid, due_at in ordered
        ]

    # -- firing: spawn ---------------------------------------------------------------------------------
    async def spawn(self, tickets: Sequence[Ticket]) -> SpawnReport:
        """Start each run's session (or deliver its message), linking runs in batches as they go."""
        report = SpawnReport()
        principals, report.orphaned_creators = await self._principals(tickets)
        linked: list[tuple[Ticket, str, str | None]] = []
        failed: list[tuple[Ticket, str]] = []
        try:
            for ticket in tickets:
                principal = principals[ticket.run_pk]
                try:
                    if ticket.target_devin_id:
                        await self.sessions.send_message(
                            principal, ticket.org_id, ticket.target_devin_id, ticket.prompt
                        )
                        linked.append((ticket, ticket.target_devin_id, "delivered"))
                    else:
                        session = await self.sessions.create(principal, ticket.org_id, self._new_session(ticket))
                        linked.append((ticket, session.id, None))
                except CodeyardError as exc:
                    failed.append((ticket, _failure(ticket, exc)))
                if len(linked) + len(failed) >= _SPAWN_FLUSH:
                    await self._record_spawns(linked, failed, report)
                    linked, failed = [], []
        finally:
            await self._record_spawns(linked, failed, report)
        for ticket, session_id in report.duplicates:
            await self.sessions.terminate(ticket.org_id, session_id, archive=True)
        return report

    @staticmethod
    def _new_session(ticket: Ticket) -> NewSession:
        due = to_datetime(ticket.due_at).strftime("%Y-%m-%dT%H:%M:%SZ")
        return NewSession(
            prompt=ticket.prompt,
            title=f"{ticket.name} ({due})",
            tags=list(ticket.tags),
            playbook_id=ticket.playbook_id,
            origin="automation",
            schedule_id=ticket.schedule_id,
            user_id=ticket.user_id,
            request={
                "prompt": ticket.prompt,
                "playbook_id": ticket.playbook_id,
                "tags": list(ticket.tags),
                "schedule_id": ticket.schedule_id,
                "schedule_due_at": due,
                "schedule_run": ticket.run_pk,
            },
        )

    async def _principals(self, tickets: Sequence[Ticket]) -> tuple[dict[int, Principal], int]:
        """Each run acts as its schedule's creator; a creator deleted since acts as the system user."""
        creators = {t.created_by for t in tickets if t.created_by}
        users: dict[str, ServiceUser] = {}
        if creators:
            async with self.db.read() as s:
                query = select(ServiceUser).where(ServiceUser.id.in_(creators), ServiceUser.deleted_at.is_(None))
                users = {u.id: u for u in await s.scalars(query)}
        principals: dict[int, Principal] = {}
        orphaned = 0
        for t in tickets:
            user = users.get(t.created_by or "")
            if user is None:
                orphaned += 1
                principals[t.run_pk] = Principal(SYSTEM_USER_ID, "codeyard scheduler", t.org_id, Role.ORG_ADMIN, "")
            else:
                principals[t.run_pk] = Principal(user.id, user.name, user.org_id, Role(user.role), "")
        return principals, orphaned

    async def _record_spawns(
        self, linked: list[tuple[Ticket, str, str | None]], failed: list[tuple[Ticket, str]], report: SpawnReport
    ) -> None:
        if not linked and not failed:
            return
        now = self.clock()
        async with self.db.write() as s:
            for ticket, session_id, outcome in linked:
                result = await s.execute(
                    update(ScheduleRun)
                    .where(ScheduleRun.pk == ticket.run_pk, ScheduleRun.session_id.is_(None))
                    .values(session_id=session_id, outcome=outcome)
                )
                if result.rowcount == 0:  # type: ignore[attr-defined]
                    if outcome is None:
                        report.duplicates.append((ticket, session_id))
                    continue
                kind = "session_created" if outcome is None else "message_delivered"
                await outbox.enqueue(s, ticket.org_id, outbox.SCHEDULE_FIRED, _fired(ticket, kind, session_id), now=now)
                values: dict[str, Any] = {"last_executed_at": now}
                if outcome is None:
                    report.sessions.append(session_id)
                else:
                    report.messages += 1
                    values["consecutive_failures"] = 0
                await s.execute(update(Schedule).where(Schedule.id == ticket.schedule_id).values(**values))
            for ticket, message in failed:
                report.failures.append(message)
                if await self._fail_run(s, ticket.run_pk, ticket.schedule_id, message, now, executed=True):
                    data = _fired(ticket, "failed", None) | {"error": message}
                    await outbox.enqueue(s, ticket.org_id, outbox.SCHEDULE_FIRED, data, now=now)

    async def _fail_run(
        self, s: AsyncSession, run_pk: int, schedule_id: str, message: str, when: float, *, executed: bool
    ) -> bool:
        """Close a run as a failure and count it; ``executed``: the spawn itself failed just now."""
        run = update(ScheduleRun).where(ScheduleRun.pk == run_pk, ScheduleRun.outcome.is_(None))
        if executed:  # unless another process has meanwhile linked a session to it
            run = run.where(ScheduleRun.session_id.is_(None))
        result = await s.execute(run.values(outcome="failure"))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            return False
        values: dict[str, Any] = {
            "consecutive_failures": Schedule.consecutive_failures + 1,
            "last_error_at": when,
            "last_error_message": message[:2000],
        }
        if executed:
            values["last_executed_at"] = when
        await s.execute(update(Schedule).where(Schedule.id == schedule_id).values(**values))
        return True

    # -- firing: outcomes and recovery -----------------------------------------------------------------
    async def review_runs(self, after_pk: int | None, now: float, grace: float, limit: int) -> RunReview:
        """Read up to ``limit`` unsettled runs with ``pk >= after_pk`` (None: from the first): settle those
        whose session has finished, and list those left unspawned for longer than ``grace``.

        The caller pages through with ``last_pk``, so a tick costs at most ``limit`` runs however many
        sessions are still queued or working.
        """
        query = (
            select(
                ScheduleRun.pk,
                ScheduleRun.schedule_id,
                ScheduleRun.session_id,
                ScheduleRun.created_at,
                AgentSessionRow.status,
                AgentSessionRow.status_detail,
                AgentSessionRow.error_message,
                AgentSessionRow.updated_at,
            )
            .outerjoin(AgentSessionRow, AgentSessionRow.id == ScheduleRun.session_id)
            .where(ScheduleRun.outcome.is_(None))
            .order_by(ScheduleRun.pk)
            .limit(limit)
        )
        if after_pk is not None:
            query = query.where(ScheduleRun.pk >= after_pk)
        async with self.db.read() as s:
            rows = (await s.execute(query)).all()
        settled: list[tuple[int, str, str, str, float]] = []
        pending: list[int] = []
        stale: list[int] = []
        for pk, schedule_id, session_id, created_at, status, detail, error, updated_at in rows:
            outcome = _outcome(status, detail) if session_id else None
            if outcome is not None:
                reason = error or f"session {session_id} ended {status}/{detail}"
                settled.append((pk, schedule_id, outcome, reason, updated_at or now))
                continue
            pending.append(pk)
            if session_id is None and created_at < now - grace:
                stale.append(pk)
        count = await self._settle(settled) if settled else 0
        last_pk = rows[-1][0] if rows else None
        return RunReview(last_pk, pending[0] if pending else None, len(rows) < limit, count, stale)

    async def _settle(self, settled: list[tuple[int, str, str, str, float]]) -> int:
        count = 0
        async with self.db.write() as s:
            for pk, schedule_id, outcome, reason, when in settled:
                if outcome == "failure":
                    count += await self._fail_run(s, pk, schedule_id, reason, when, executed=False)
                    continue
                result = await s.execute(
                    update(ScheduleRun)
                    .where(ScheduleRun.pk == pk, ScheduleRun.outcome.is_(None))
                    .values(outcome=outcome)
                )
                if result.rowcount and outcome == "success":  # type: ignore[attr-defined]
                    await s.execute(update(Schedule).where(Schedule.id == schedule_id).values(consecutive_failures=0))
                count += result.rowcount  # type: ignore[attr-defined]
        return count

    async def reclaim(self, run_pks: Sequence[int], now: float, grace: float) -> list[Ticket]:
        """Take over runs a dead process claimed but never linked; returns the ones that still need a session.

        Taking over is a compare-and-set that moves the run's ``created_at`` to ``now`` (a lease of ``grace``
        seconds). A session that the dead process did create is found by the run number in its ``request``
        and linked instead of spawning a second one. Runs of deleted schedules are closed as ``cancelled``.
        """
        if not run_pks:
            return []
        taken: list[tuple[int, str, float]] = []
        async with self.db.write() as s:
            runs = await s.execute(
                select(
                    ScheduleRun.pk,
                    ScheduleRun.schedule_id,
                    ScheduleRun.due_at,
                    ScheduleRun.created_at,
                    Schedule.deleted_at,
                )
                .join(Schedule, Schedule.id == ScheduleRun.schedule_id)
                .where(
                    ScheduleRun.pk.in_(run_pks),
                    ScheduleRun.session_id.is_(None),
                    ScheduleRun.outcome.is_(None),
                    ScheduleRun.created_at < now - grace,
                )
            )
            for pk, schedule_id, due_at, leased_at, deleted_at in list(runs):
                run = update(ScheduleRun).where(
                    ScheduleRun.pk == pk,
                    ScheduleRun.session_id.is_(None),
                    ScheduleRun.outcome.is_(None),
                    ScheduleRun.created_at == leased_at,
                )
                if deleted_at is not None:
                    await s.execute(run.values(outcome="cancelled"))
                    continue
                existing = await self._spawned_for(s, pk, schedule_id, due_at)
                if existing is not None:
                    await s.execute(run.values(session_id=existing))
                    await s.execute(update(Schedule).where(Schedule.id == schedule_id).values(last_executed_at=now))
                    continue
                if (await s.execute(run.values(created_at=now))).rowcount == 1:  # type: ignore[attr-defined]
                    taken.append((pk, schedule_id, due_at))
            return await self._tickets(s, taken) if taken else []

    @staticmethod
    async def _spawned_for(s: AsyncSession, run_pk: int, schedule_id: str, due_at: float) -> str | None:
        """A session already started for this run (its ``request`` names the run), if any."""
        candidates = await s.execute(
            select(AgentSessionRow.id, AgentSessionRow.request).where(
                AgentSessionRow.schedule_id == schedule_id, AgentSessionRow.created_at >= due_at - 3600
            )
        )
        for session_id, request in candidates:
            if isinstance(request, dict) and request.get("schedule_run") == run_pk:
                return str(session_id)
        return None


def _outcome(status: str | None, detail: str | None) -> str | None:
    """What a spawned session's state says about the run; None while it is still queued or working."""
    if status == SessionStatus.EXIT and detail == StatusDetail.FINISHED:
        return "success"
    if status == SessionStatus.RUNNING and detail == StatusDetail.WAITING_FOR_USER:
        return "success"
    if status in (SessionStatus.ERROR, SessionStatus.SUSPENDED):
        return "failure"
    if status == SessionStatus.EXIT:
        return "cancelled"  # terminated by a user: neither a success nor the schedule's failure
    return None


def _failure(ticket: Ticket, exc: CodeyardError) -> str:
    if ticket.target_devin_id:
        return f"could not send the prompt to session {ticket.target_devin_id}: {exc.detail}"
    return f"could not start a session: {exc.detail}"


def _fired(ticket: Ticket, outcome: str, session_id: str | None) -> dict[str, Any]:
    """A schedule run as the ``schedule.fired`` webhook's ``data``."""
    return {
        "schedule_id": ticket.schedule_id,
        "org_id": ticket.org_id,
        "name": ticket.name,
        "due_at": to_datetime(ticket.due_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outcome": outcome,
        "session_id": session_id,
    }
