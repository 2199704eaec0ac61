"""ACU consumption per day (devin-api-reference §9): recorded as sessions work, reported per org, session,
service user, user and for the whole enterprise, with the ACU limits of the reference.

One ACU is 15 minutes of agent working time (contract §4); the runner counts working time into
``sessions.acus_consumed`` and, through ``add_usage`` in the same transaction, into one ``acu_usage`` row per
session and day. Days are cut at midnight Pacific (08:00 UTC), as in Devin's reports.
"""

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from codeyard.errors import NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.storage.db import Database
from codeyard.storage.tables import AcuUsage, AgentSessionRow, Meta, Organization

DAY_OFFSET = 8 * 3600
DAY = 86400
PRODUCT = "devin"
"""Every ACU codeyard counts is a Devin session's; the reference's other products (cascade, terminal, review)
always report 0 here."""
_ENTERPRISE_LIMIT = "enterprise_cycle_acu_limit"
_LAST_DAY = 2**31 - 1
"""The day column is 32 bits on PostgreSQL: a bound past it (the API accepts epochs up to 2**53) is clamped, since no
stored day can lie beyond it."""


def day_of(epoch: float) -> int:
    """The start (epoch seconds) of the reporting day that holds ``epoch``."""
    return int((epoch - DAY_OFFSET) // DAY) * DAY + DAY_OFFSET


def add_usage(conn: Connection, session: Any, acus: float, now: float) -> None:
    """Add ``acus`` to the session's usage of today, inside the caller's write transaction. ``session`` has the
    session's ``id``, ``org_id``, ``service_user_id`` and ``user_id``; the caller has just updated its row, so a
    second count for the same session waits for this transaction and the two cannot both insert today's row."""
    if acus <= 0:
        return
    day = day_of(now)
    added = conn.execute(
        update(AcuUsage).where(AcuUsage.session_id == session.id, AcuUsage.day == day).values(acus=AcuUsage.acus + acus)
    )
    if added.rowcount:
        return
    conn.execute(
        insert(AcuUsage).values(
            org_id=session.org_id,
            session_id=session.id,
            service_user_id=session.service_user_id,
            user_id=session.user_id,
            day=day,
            acus=acus,
        )
    )


@dataclass(frozen=True)
class DailyUsage:
    day: int
    acus: float


@dataclass(frozen=True)
class UsageReport:
    days: list[DailyUsage]
    total: float


@dataclass(frozen=True)
class AcuLimits:
    enterprise_cycle_acu_limit: float | None
    org_cycle_acu_limits: dict[str, float]


def cycle_start(epoch: float) -> int:
    """The start of the billing cycle (the calendar month, in reporting days) that holds ``epoch``."""
    day = day_of(epoch)
    while True:
        previous = day - DAY
        if time.gmtime(previous).tm_mon != time.gmtime(day).tm_mon:
            return day
        day = previous


class Consumption:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock

    async def daily(
        self,
        *,
        org_id: str | None,
        time_after: float | None = None,
        time_before: float | None = None,
        session_id: str | None = None,
        service_user_id: str | None = None,
        user_id: str | None = None,
    ) -> UsageReport:
        """Usage per day, oldest first, between ``time_after`` and ``time_before`` (epoch seconds, by day start);
        ``org_id`` None means every organization (the enterprise report)."""
        conditions: list[ColumnElement[bool]] = []
        if org_id is not None:
            conditions.append(AcuUsage.org_id == org_id)
        if session_id is not None:
            conditions.append(AcuUsage.session_id == session_id)
        if service_user_id is not None:
            conditions.append(AcuUsage.service_user_id == service_user_id)
        if user_id is not None:
            conditions.append(AcuUsage.user_id == user_id)
        if time_after is not None:
            conditions.append(AcuUsage.day >= min(day_of(time_after), _LAST_DAY))
        if time_before is not None:
            conditions.append(AcuUsage.day <= min(day_of(time_before), _LAST_DAY))
        query = (
            select(AcuUsage.day, func.sum(AcuUsage.acus))
            .where(*conditions)
            .group_by(AcuUsage.day)
            .order_by(AcuUsage.day)
        )
        async with self.db.read() as s:
            rows = (await s.execute(query)).all()
        days = [DailyUsage(int(day), round(float(acus), 6)) for day, acus in rows]
        return UsageReport(days, round(sum(d.acus for d in days), 6))

    async def session_budget(self, row: AgentSessionRow) -> float | None:
        """The ACU total at which this session must pause: its own ``max_acu_limit``, its org's per-session limit,
        and what is left of the org's and the enterprise's cycle limits, whichever comes first (None: no limit)."""
        now = self.clock()
        start = cycle_start(now)
        async with self.db.read() as s:
            org = await s.scalar(select(Organization).where(Organization.id == row.org_id))
            meta = await s.get(Meta, _ENTERPRISE_LIMIT)
            candidates = [row.max_acu_limit]
            if org is not None and org.max_session_acu_limit is not None:
                candidates.append(org.max_session_acu_limit)
            for limit, condition in (
                (org.max_cycle_acu_limit if org is not None else None, AcuUsage.org_id == row.org_id),
                (float(meta.value) if meta is not None else None, None),
            ):
                if limit is None:
                    continue
                query = select(func.coalesce(func.sum(AcuUsage.acus), 0.0)).where(AcuUsage.day >= start)
                used = float(await s.scalar(query if condition is None else query.where(condition)) or 0.0)
                candidates.append(row.acus_consumed + max(0.0, limit - used))
        limits = [c for c in candidates if c is not None]
        return min(limits) if limits else None

    async def limits(self) -> AcuLimits:
        async with self.db.read() as s:
            meta = await s.get(Meta, _ENTERPRISE_LIMIT)
            orgs = await s.execute(
                select(Organization.id, Organization.max_cycle_acu_limit).where(
                    Organization.deleted_at.is_(None), Organization.max_cycle_acu_limit.is_not(None)
                )
            )
            return AcuLimits(
                float(meta.value) if meta is not None else None,
                {oid: float(lim) for oid, lim in orgs.all() if lim is not None},
            )

    async def set_enterprise_limit(self, limit: float | None) -> None:
        async with self.db.write() as s:
            meta = await s.get(Meta, _ENTERPRISE_LIMIT)
            if limit is None:
                if meta is not None:
                    await s.delete(meta)
            elif meta is None:
                s.add(Meta(key=_ENTERPRISE_LIMIT, value=repr(float(limit))))
            else:
                meta.value = repr(float(limit))

    async def set_org_limit(self, org_id: str, limit: float | None) -> None:
        async with self.db.write() as s:
            org = await s.scalar(
                select(Organization).where(Organization.id == org_id, Organization.deleted_at.is_(None))
            )
            if org is None:
                raise NotFoundError(f"organization {org_id[:80]} not found")
            org.max_cycle_acu_limit = limit
            org.updated_at = self.clock()
