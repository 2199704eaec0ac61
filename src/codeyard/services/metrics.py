"""Organization metrics (the generated SDK's ``metrics`` resource): active users, sessions, pull requests and
usage over a time window, computed from the stored sessions.

An "active user" is whoever started sessions: the person a session was created as (``create_as_user_id``), else
the service user whose key created it. codeyard has no search product, so search counts are always 0.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from codeyard.errors import FieldError
from codeyard.services.insights import session_size
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, MessageRow

DAY = 86400
MAX_WINDOW = 5 * 366 * DAY
MAX_BUCKETS = 400


@dataclass(frozen=True)
class Window:
    after: int
    before: int

    def __post_init__(self) -> None:
        if self.before <= self.after:
            raise FieldError("time_before", "time_before must be later than time_after", "query")
        if self.before - self.after > MAX_WINDOW:
            raise FieldError("time_after", "the window is longer than five years", "query")


@dataclass(frozen=True)
class SessionMetrics:
    count: int
    with_playbook: int
    avg_acus: float
    by_origin: dict[str, int]
    by_size: dict[str, int]
    with_merged_prs: int
    with_merged_prs_by_size: dict[str, int]


@dataclass(frozen=True)
class PrMetrics:
    created: int
    opened: int
    merged: int
    closed: int


@dataclass
class _Rows:
    sessions: list[AgentSessionRow] = field(default_factory=list)
    messages: Counter[str] = field(default_factory=Counter)


def _person(row: AgentSessionRow) -> str:
    return row.user_id or row.service_user_id or "unknown"


class Metrics:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _rows(
        self,
        org_id: str,
        window: Window,
        *,
        playbook_id: str | None = None,
        service_user_ids: Sequence[str] = (),
        user_ids: Sequence[str] = (),
        with_messages: bool = False,
    ) -> _Rows:
        t = AgentSessionRow
        query = select(t).where(t.org_id == org_id, t.created_at >= window.after, t.created_at < window.before)
        if playbook_id:
            query = query.where(t.playbook_id == playbook_id)
        if service_user_ids:
            query = query.where(t.service_user_id.in_(list(service_user_ids)))
        if user_ids:
            query = query.where(t.user_id.in_(list(user_ids)))
        out = _Rows()
        async with self.db.read() as s:
            out.sessions = list(await s.scalars(query.order_by(t.pk)))
            if with_messages and out.sessions:
                ids = [r.id for r in out.sessions]
                for start in range(0, len(ids), 500):
                    rows = await s.execute(
                        select(MessageRow.session_id).where(MessageRow.session_id.in_(ids[start : start + 500]))
                    )
                    out.messages.update(sid for (sid,) in rows)
        return out

    async def active_users(self, org_id: str, window: Window, *, min_sessions: int = 1) -> int:
        rows = await self._rows(org_id, window)
        counts = Counter(_person(r) for r in rows.sessions)
        return sum(1 for n in counts.values() if n >= max(1, min_sessions))

    async def active_users_by(
        self, org_id: str, window: Window, period: int, *, min_sessions: int = 1
    ) -> list[tuple[int, int, int]]:
        """``(start, end, active users)`` for each period (a day, a week, 30 days) of the window."""
        if (window.before - window.after) / period > MAX_BUCKETS:
            raise FieldError("time_after", f"the window holds more than {MAX_BUCKETS} periods", "query")
        rows = await self._rows(org_id, window)
        buckets: list[tuple[int, int, int]] = []
        start = window.after
        while start < window.before:
            end = min(start + period, window.before)
            counts = Counter(_person(r) for r in rows.sessions if start <= r.created_at < end)
            buckets.append((start, end, sum(1 for n in counts.values() if n >= max(1, min_sessions))))
            start = end
        return buckets

    async def sessions(
        self,
        org_id: str,
        window: Window,
        *,
        playbook_id: str | None = None,
        service_user_ids: Sequence[str] = (),
        user_ids: Sequence[str] = (),
    ) -> SessionMetrics:
        rows = await self._rows(
            org_id,
            window,
            playbook_id=playbook_id,
            service_user_ids=service_user_ids,
            user_ids=user_ids,
            with_messages=True,
        )
        sizes = {r.id: session_size(r.acus_consumed, rows.messages[r.id]) for r in rows.sessions}
        merged = [r for r in rows.sessions if any(pr.get("pr_state") == "merged" for pr in r.pull_requests)]
        count = len(rows.sessions)
        return SessionMetrics(
            count=count,
            with_playbook=sum(1 for r in rows.sessions if r.playbook_id),
            avg_acus=round(sum(r.acus_consumed for r in rows.sessions) / count, 4) if count else 0.0,
            by_origin=dict(Counter(r.origin for r in rows.sessions)),
            by_size=dict(Counter(sizes.values())),
            with_merged_prs=len(merged),
            with_merged_prs_by_size=dict(Counter(sizes[r.id] for r in merged)),
        )

    async def pull_requests(self, org_id: str, window: Window) -> PrMetrics:
        rows = await self._rows(org_id, window)
        prs: list[dict[str, Any]] = [pr for r in rows.sessions for pr in r.pull_requests if isinstance(pr, dict)]
        states = Counter(pr.get("pr_state") for pr in prs)
        return PrMetrics(created=len(prs), opened=states["open"], merged=states["merged"], closed=states["closed"])
