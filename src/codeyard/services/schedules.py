"""Schedules: CRUD (contract §8), with ``next_run_at`` computed in the schedule's IANA zone.

Firing them exactly once is ``codeyard.services.schedule_runs``; the ticker in ``codeyard.scheduler.ticker``
drives it. Overview of the firing steps:

1. ``claim`` moves each due schedule's ``next_run_at`` with a compare-and-set and, in the same transaction,
   inserts one ``schedule_runs`` row per fired due time (unique on ``(schedule_id, due_at)``). A replica that
   loses the race updates nothing and inserts nothing.
2. ``spawn`` starts the session (or sends the message) for each claimed run, then links the run to it.
   Each spawned session carries the run's ``pk`` in its ``request``, so a run found unlinked later (the
   process died between the session and the link) is linked to that session instead of spawning again.
3. ``review_runs`` reads unsettled runs: it settles the finished ones into the schedule's failure counters
   and hands back the ones left unspawned by a dead process; ``reclaim`` takes those over with a
   compare-and-set on the run row, which acts as a lease.

This module imports ``codeyard.domain.cron``, a leaf module with no codeyard imports, for validation
and next-fire times: the API computes ``next_run_at`` on create and update, the ticker when it claims.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.cron import (
    DEFAULT_TIMEZONE,
    CronError,
    next_fire,
    parse_zone,
    validate_cron,
    validate_scheduled_at,
)
from codeyard.domain.ids import new_id, normalize_session_id
from codeyard.errors import FieldError, NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.pagination import Page
from codeyard.services.principal import Principal
from codeyard.services.sessions import Sessions, make_title
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, Playbook, Schedule

RECURRING = "recurring"
ONE_TIME = "one_time"
OPTION_FIELDS = ("bypass_approval", "create_as_user_id", "platform", "slack_channel_id", "slack_team_id")
"""Accepted and echoed; only ``create_as_user_id`` has an effect (the spawned session's ``user_id``)."""
TIMING_FIELDS = frozenset({"frequency", "timezone", "schedule_type", "scheduled_at", "interval_count"})
SYSTEM_USER_ID = "service-user-scheduler"
"""Spawned sessions of a schedule whose creator was deleted are attributed to this pseudo user."""


@dataclass(frozen=True)
class ScheduleInput:
    """Fields of a create or update request; ``given`` names the ones the client sent (PATCH semantics)."""

    given: frozenset[str]
    prompt: str | None = None
    name: str | None = None
    agent: str | None = None
    schedule_type: str | None = None
    frequency: str | None = None
    frequency_field: str = "frequency"
    """The spelling the client used (``frequency`` or ``cron_schedule``), so a 422 names what it sent."""
    timezone: str | None = None
    scheduled_at: datetime | None = None
    interval_count: int | None = None
    notify_on: str | None = None
    playbook_id: str | None = None
    tags: list[str] | None = None
    target_devin_id: str | None = None
    enabled: bool | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Values of ``OPTION_FIELDS`` that were sent."""


@dataclass(frozen=True)
class ScheduleView:
    row: Schedule
    playbook_title: str | None


def to_epoch(moment: datetime) -> float:
    return moment.timestamp()


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Schedules:
    def __init__(self, db: Database, sessions: Sessions, clock: Clock = system_clock) -> None:
        self.db = db
        self.sessions = sessions
        self.clock = clock

    # -- CRUD ------------------------------------------------------------------------------------------
    async def create(self, principal: Principal, org_id: str, data: ScheduleInput) -> ScheduleView:
        now = self.clock()
        if not data.prompt:
            raise FieldError("prompt", "prompt is required")
        row = Schedule(
            id=new_id("sched"),
            org_id=org_id,
            name=(data.name or "").strip()[:512] or make_title(data.prompt),
            prompt=data.prompt,
            agent=data.agent or "devin",
            schedule_type=data.schedule_type or RECURRING,
            timezone=DEFAULT_TIMEZONE,
            enabled=True if data.enabled is None else data.enabled,
            notify_on=data.notify_on or "failure",
            tags=list(dict.fromkeys(data.tags or [])),
            options={key: data.options[key] for key in OPTION_FIELDS if key in data.options},
            created_by=principal.service_user_id,
            last_edited_by=principal.service_user_id,
            due_count=0,
            skipped_count=0,
            consecutive_failures=0,
            interval_count=data.interval_count,
            created_at=now,
            updated_at=now,
        )
        self._apply_timing(row, data, now, recompute=True)
        async with self.db.write() as s:
            row.playbook_id = await self._check_playbook(s, org_id, data.playbook_id)
            row.target_devin_id = await self._check_target(s, org_id, data.target_devin_id)
            s.add(row)
        return await self._view(row)

    async def get(self, org_id: str, schedule_id: str) -> ScheduleView:
        async with self.db.read() as s:
            row = await self._load(s, org_id, schedule_id)
        return await self._view(row)

    async def list_schedules(self, org_id: str, *, limit: int, offset: int) -> Page[ScheduleView]:
        live = (Schedule.org_id == org_id, Schedule.deleted_at.is_(None))
        async with self.db.read() as s:
            total = await s.scalar(select(func.count()).select_from(Schedule).where(*live)) or 0
            rows = list(
                await s.scalars(select(Schedule).where(*live).order_by(Schedule.pk.desc()).offset(offset).limit(limit))
            )
            titles = await self._titles(s, {r.playbook_id for r in rows if r.playbook_id})
        has_next = offset + len(rows) < total
        views = [ScheduleView(r, titles.get(r.playbook_id or "")) for r in rows]
        return Page(views, str(offset + len(rows)) if has_next else None, has_next, total)

    async def update(self, principal: Principal, org_id: str, schedule_id: str, data: ScheduleInput) -> ScheduleView:
        now = self.clock()
        given = data.given
        async with self.db.write() as s:
            row = await self._load(s, org_id, schedule_id)
            if "prompt" in given:
                if not data.prompt:
                    raise FieldError("prompt", "prompt must not be empty")
                row.prompt = data.prompt
            if "name" in given:
                row.name = (data.name or "").strip()[:512] or make_title(row.prompt)
            for attr, default in (("agent", "devin"), ("notify_on", "failure")):
                if attr in given:
                    setattr(row, attr, getattr(data, attr) or default)
            if "tags" in given:
                row.tags = list(dict.fromkeys(data.tags or []))
            if "playbook_id" in given:
                row.playbook_id = await self._check_playbook(s, org_id, data.playbook_id)
            if "target_devin_id" in given:
                row.target_devin_id = await self._check_target(s, org_id, data.target_devin_id)
            if data.options:
                row.options = {**row.options, **data.options}
            enabling = data.enabled is True and not row.enabled
            if "enabled" in given and data.enabled is not None:
                row.enabled = data.enabled
            if "interval_count" in given:
                row.interval_count = data.interval_count
            self._apply_timing(row, data, now, recompute=enabling or bool(given & TIMING_FIELDS))
            row.last_edited_by = principal.service_user_id
            row.updated_at = now
        return await self._view(row)

    async def delete(self, principal: Principal, org_id: str, schedule_id: str) -> ScheduleView:
        """Soft delete: the schedule stops firing and disappears; the sessions it started stay."""
        now = self.clock()
        async with self.db.write() as s:
            row = await self._load(s, org_id, schedule_id)
            row.deleted_at = row.updated_at = now
            row.enabled = False
            row.next_run_at = None
            row.last_edited_by = principal.service_user_id
        return await self._view(row)

    def _apply_timing(self, row: Schedule, data: ScheduleInput, now: float, *, recompute: bool) -> None:
        """Validate the timing fields that were sent and, if ``recompute``, set ``next_run_at`` afresh."""
        given = data.given
        moment = to_datetime(now)
        try:
            if "timezone" in given:
                row.timezone = parse_zone(data.timezone or DEFAULT_TIMEZONE).key
            zone = parse_zone(row.timezone)
            if "schedule_type" in given and data.schedule_type:
                row.schedule_type = data.schedule_type
            if "frequency" in given:
                row.frequency = validate_cron(data.frequency, now=moment) if data.frequency else None
            if "scheduled_at" in given:
                row.scheduled_at = (
                    to_epoch(validate_scheduled_at(data.scheduled_at, zone, moment)) if data.scheduled_at else None
                )
        except CronError as exc:
            raise FieldError(data.frequency_field if exc.field == "frequency" else exc.field, exc.message) from exc
        if row.schedule_type == RECURRING and not row.frequency:
            raise FieldError(data.frequency_field, "frequency (a 5-field cron expression) is required for recurring")
        if row.schedule_type == ONE_TIME and row.scheduled_at is None:
            raise FieldError("scheduled_at", "scheduled_at is required for a one_time schedule")
        if not row.enabled:
            row.next_run_at = None
            return
        if not recompute:
            return
        row.due_count = 0
        if row.schedule_type == ONE_TIME:
            assert row.scheduled_at is not None
            if row.scheduled_at <= now:
                raise FieldError("scheduled_at", "scheduled_at is in the past; give a new one to enable the schedule")
            row.next_run_at = row.scheduled_at
        else:
            assert row.frequency is not None
            row.next_run_at = to_epoch(next_fire(row.frequency, zone, moment))

    async def _load(self, s: AsyncSession, org_id: str, schedule_id: str) -> Schedule:
        row = await s.scalar(
            select(Schedule).where(Schedule.id == schedule_id, Schedule.org_id == org_id, Schedule.deleted_at.is_(None))
        )
        if row is None:
            raise NotFoundError(f"schedule {schedule_id[:80]} not found")
        return row

    async def _check_playbook(self, s: AsyncSession, org_id: str, playbook_id: str | None) -> str | None:
        if playbook_id is None:
            return None
        if await s.scalar(select(Playbook.pk).where(Playbook.id == playbook_id, Playbook.org_id == org_id)) is None:
            raise FieldError("playbook_id", f"playbook {playbook_id[:80]} not found in this organization")
        return playbook_id

    async def _check_target(self, s: AsyncSession, org_id: str, target: str | None) -> str | None:
        if target is None:
            return None
        session_id = normalize_session_id(target)
        query = select(AgentSessionRow.id).where(AgentSessionRow.id == session_id, AgentSessionRow.org_id == org_id)
        if session_id is None or await s.scalar(query) is None:
            raise FieldError("target_devin_id", f"session {target[:80]} not found in this organization")
        return session_id

    async def _view(self, row: Schedule) -> ScheduleView:
        if row.playbook_id is None:
            return ScheduleView(row, None)
        async with self.db.read() as s:
            titles = await self._titles(s, {row.playbook_id})
        return ScheduleView(row, titles.get(row.playbook_id))

    @staticmethod
    async def _titles(s: AsyncSession, playbook_ids: set[str]) -> dict[str, str]:
        if not playbook_ids:
            return {}
        rows = await s.execute(select(Playbook.id, Playbook.title).where(Playbook.id.in_(playbook_ids)))
        return dict(rows.all())
