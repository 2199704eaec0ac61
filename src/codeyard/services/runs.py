"""The runner's half of the session lifecycle: claiming, leases, the agent's journal, outcomes.

Every method is one short transaction, so what the agent did is stored before it does the next thing
(contract §5): a runner that dies loses at most the step in flight, and another runner (or the same
server after a restart) continues from the stored history once the dead runner's lease runs out.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import new_id
from codeyard.domain.lifecycle import SessionState, SessionStatus, StatusDetail, TransitionError
from codeyard.domain.queue import fair_order
from codeyard.errors import ConflictError, NotFoundError
from codeyard.services import outbox
from codeyard.services.attachments import Attachments
from codeyard.services.clock import Clock, system_clock
from codeyard.services.consumption import add_usage
from codeyard.services.crypto import Vault
from codeyard.services.events import DEFAULT_DETAIL_CHARS, Category, add_event, clip_details
from codeyard.services.sessions import apply_state, state_of
from codeyard.storage.db import Database
from codeyard.storage.prepared import Prepared
from codeyard.storage.tables import AgentSessionRow, Attachment, EventRow, HistoryRow, MessageRow

S, D = SessionStatus, StatusDetail
ACU_SECONDS = 15 * 60
"""One ACU is 15 minutes of agent working time (contract §4)."""


@dataclass(frozen=True)
class EventSpec:
    event_type: str
    category: Category
    summary: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Control:
    """What a running agent must know between two steps."""

    stop: str | None
    """Why it must stop now (terminated, archived, lease lost), or ``None`` to go on."""
    pending_messages: int


class LeaseLostError(ConflictError):
    """This runner no longer holds the session (another runner took it over, or it was stopped)."""


class Runs:
    def __init__(self, db: Database, vault: Vault, attachments: Attachments, clock: Clock = system_clock) -> None:
        self.db = db
        self.vault = vault
        self.attachments = attachments
        self.clock = clock
        self.detail_chars = DEFAULT_DETAIL_CHARS
        """Longest string kept whole in an event's details (set from the settings by the container)."""

    # -- claiming ----------------------------------------------------------------------------------------
    def _runnable(self, now: float) -> Any:
        t = AgentSessionRow
        unclaimed = t.claimed_by.is_(None) & (
            t.status.in_([S.NEW.value, S.RESUMING.value])
            | ((t.status == S.RUNNING.value) & (t.status_detail == D.WORKING.value))
        )
        stale = (
            t.claimed_by.is_not(None)
            & (t.lease_until < now)
            & t.status.in_([S.CLAIMED.value, S.RUNNING.value, S.RESUMING.value, S.NEW.value])
        )
        return unclaimed | stale

    async def _next_candidate(self, s: AsyncSession, now: float) -> str | None:
        """A session whose runner's lease ran out first (it was already running), else the next in the fair order
        across organizations (``domain.queue``)."""
        t = AgentSessionRow
        open_rows = self._runnable(now) & t.is_archived.is_(False)
        stale = await s.scalar(select(t.id).where(open_rows, t.claimed_by.is_not(None)).order_by(t.pk).limit(1))
        if stale is not None:
            return str(stale)
        waiting = [
            (row.id, row.org_id)
            for row in await s.execute(select(t.id, t.org_id).where(open_rows, t.claimed_by.is_(None)).order_by(t.pk))
        ]
        if not waiting:
            return None
        running = {
            row.org_id: int(row.n)
            for row in await s.execute(
                select(t.org_id, func.count().label("n")).where(t.claimed_by.is_not(None)).group_by(t.org_id)
            )
        }
        return fair_order(waiting, running)[0]

    async def claim_next(self, runner_id: str, lease: float) -> AgentSessionRow | None:
        """Take the next runnable session (round-robin across organizations), or one whose runner's lease ran
        out; atomic across processes."""
        now = self.clock()
        for _ in range(5):
            async with self.db.read() as s:
                candidate = await self._next_candidate(s, now)
            if candidate is None:
                return None
            async with self.db.write() as s:
                # The fair queue's next session, if it is still runnable and no other runner has it locked
                # (PostgreSQL skips a locked row instead of queueing behind it; on SQLite the write transaction
                # already excludes the others).
                row = await s.scalar(
                    select(AgentSessionRow)
                    .where(AgentSessionRow.id == candidate, self._runnable(now), AgentSessionRow.is_archived.is_(False))
                    .with_for_update(skip_locked=True)
                )
                if row is None:
                    continue  # another runner holds or took it; look again
                await _take(s, row, runner_id, lease, now, "the server restarted")
                return row
        return None

    async def claim_session(
        self, session_id: str, runner_id: str, lease: float, *, take_over: str | None = None
    ) -> AgentSessionRow | None:
        """Take this one session if it is runnable (or its runner's lease ran out); with ``take_over``, also if that
        runner (known to be dead) still holds it. ``None`` when it is at rest or another runner holds it.

        The claim is the fence: a runner whose session was taken writes nothing more (``LeaseLostError``)."""
        now = self.clock()
        t = AgentSessionRow
        takeable = self._runnable(now)
        if take_over is not None and take_over != runner_id:
            takeable = takeable | (
                (t.claimed_by == take_over)
                & t.status.in_([S.CLAIMED.value, S.RUNNING.value, S.RESUMING.value, S.NEW.value])
            )
        async with self.db.write() as s:
            # Waits for a row lock held by another writer, then checks the conditions again on the committed row.
            row = await s.scalar(
                select(t).where(t.id == session_id, takeable, t.is_archived.is_(False)).with_for_update()
            )
            if row is None:
                return None
            await _take(s, row, runner_id, lease, now, "its worker stopped answering")
            return row

    async def holder(self, session_id: str) -> str | None:
        """The runner that holds the session, if any."""
        async with self.db.read() as s:
            owner = await s.scalar(select(AgentSessionRow.claimed_by).where(AgentSessionRow.id == session_id))
        return str(owner) if owner is not None else None

    async def runnable(self, limit: int = 1000) -> list[str]:
        """Sessions waiting for a runner (or whose runner's lease ran out), oldest first."""
        t = AgentSessionRow
        async with self.db.read() as s:
            rows = await s.scalars(
                select(t.id).where(self._runnable(self.clock()), t.is_archived.is_(False)).order_by(t.pk).limit(limit)
            )
            return list(rows)

    async def heartbeat(self, runner_id: str, session_ids: Sequence[str], lease: float) -> set[str]:
        """Extend this runner's leases; returns the sessions it no longer holds."""
        if not session_ids:
            return set()
        now = self.clock()
        async with self.db.write() as s:
            await s.execute(
                update(AgentSessionRow)
                .where(AgentSessionRow.id.in_(session_ids), AgentSessionRow.claimed_by == runner_id)
                .values(lease_until=now + lease)
            )
            held = set(
                await s.scalars(
                    select(AgentSessionRow.id).where(
                        AgentSessionRow.id.in_(session_ids), AgentSessionRow.claimed_by == runner_id
                    )
                )
            )
        return set(session_ids) - held

    async def expire_dead_runners(self, host: str, alive: Callable[[int], bool]) -> int:
        """End the leases of runners on this host whose process is gone (after a crash), so their sessions resume
        at once instead of after the lease. Runner ids are ``host:pid:nonce``."""
        async with self.db.write() as s:
            owners = set(
                await s.scalars(
                    select(AgentSessionRow.claimed_by).where(AgentSessionRow.claimed_by.like(f"{host}:%")).distinct()
                )
            )
            dead = [o for o in owners if o and o.split(":")[1].isdigit() and not alive(int(o.split(":")[1]))]
            if dead:
                await s.execute(
                    update(AgentSessionRow).where(AgentSessionRow.claimed_by.in_(dead)).values(lease_until=0.0)
                )
            return len(dead)

    async def release_runner(self, runner_id: str) -> None:
        """At shutdown: give back every session this runner holds, to be continued by the next runner."""
        async with self.db.write() as s:
            await s.execute(
                update(AgentSessionRow)
                .where(AgentSessionRow.claimed_by == runner_id)
                .values(claimed_by=None, lease_until=None)
            )

    async def sweep_inactive(self, timeout: float) -> list[str]:
        """Suspend sessions that waited for the user longer than ``timeout`` seconds (``suspended/inactivity``)."""
        now = self.clock()
        async with self.db.write() as s:
            rows = list(
                await s.scalars(
                    select(AgentSessionRow).where(
                        AgentSessionRow.status == S.RUNNING.value,
                        AgentSessionRow.status_detail == D.WAITING_FOR_USER.value,
                        AgentSessionRow.claimed_by.is_(None),
                        AgentSessionRow.waiting_since < now - timeout,
                    )
                )
            )
            for row in rows:
                await apply_state(
                    s,
                    row,
                    state_of(row).suspend_inactive(),
                    now,
                    reason=f"suspended after waiting {int(timeout)} s for the user",
                )
        return [r.id for r in rows]

    async def expired_workspaces(self, session_ids: Sequence[str], days: float) -> tuple[list[str], list[str]]:
        """Of the sessions with a workspace on disk: those finished, failed or suspended (and not held) for more
        than ``days``, and those that no longer exist at all."""
        cutoff = self.clock() - days * 86400
        done = [S.EXIT.value, S.ERROR.value, S.SUSPENDED.value]
        t = AgentSessionRow
        async with self.db.read() as s:
            known = set(await s.scalars(select(t.id).where(t.id.in_(session_ids))))
            expired = await s.scalars(
                select(t.id).where(
                    t.id.in_(session_ids), t.status.in_(done), t.claimed_by.is_(None), t.updated_at < cutoff
                )
            )
            return list(expired), [sid for sid in session_ids if sid not in known]

    async def note_workspace_deleted(self, session_id: str, days: float) -> None:
        async with self.db.write() as s:
            add_event(
                s,
                session_id,
                "workspace_deleted",
                Category.LIFECYCLE,
                f"workspace deleted after {days:g} days without activity (retention); a new message starts afresh",
                now=self.clock(),
            )

    async def queue_length(self) -> int:
        async with self.db.read() as s:
            return int(
                await s.scalar(select(func.count()).select_from(AgentSessionRow).where(self._runnable(self.clock())))
                or 0
            )

    # -- state of one session ------------------------------------------------------------------------
    async def _held(self, s: AsyncSession, session_id: str, runner_id: str) -> AgentSessionRow:
        row = await s.scalar(select(AgentSessionRow).where(AgentSessionRow.id == session_id).with_for_update())
        if row is None:
            raise NotFoundError(f"session {session_id} not found")
        if row.claimed_by != runner_id:
            raise LeaseLostError(f"session {session_id} is no longer held by this runner")
        return row

    async def get(self, session_id: str) -> AgentSessionRow:
        async with self.db.read() as s:
            row = await s.scalar(select(AgentSessionRow).where(AgentSessionRow.id == session_id))
        if row is None:
            raise NotFoundError(f"session {session_id} not found")
        return row

    async def start(self, session_id: str, runner_id: str) -> AgentSessionRow:
        """The sandbox and context are ready: ``claimed``/``resuming`` → ``running``/``working``."""
        now = self.clock()
        async with self.db.write() as s:
            row = await self._held(s, session_id, runner_id)
            state = state_of(row)
            if state.terminated or state.is_archived:
                raise LeaseLostError(f"session {session_id} was stopped while it was being prepared")
            if state.status != S.RUNNING:
                await apply_state(s, row, state.start(), now)
            return row

    async def control(self, session_id: str, runner_id: str) -> Control:
        """What the agent must know before its next step (one statement: the runner asks before every step)."""
        rows = await self.db.read_rows(lambda reader: reader.rows(_CONTROL, {"session_id": session_id}))
        row = rows[0] if rows else None
        if row is None:
            return Control("the session no longer exists", 0)
        state = SessionState(S(row.status), D(row.status_detail) if row.status_detail else None, row.is_archived)
        if state.terminated:
            return Control("terminated by the user", 0)
        if state.is_archived:
            return Control("archived", 0)
        if row.claimed_by != runner_id:
            return Control("another runner holds the session", 0)
        return Control(None, int(row.pending or 0))

    # -- the journal: history, messages, events --------------------------------------------------------
    async def history(self, session_id: str) -> list[dict[str, Any]]:
        rows = await self.db.read_rows(lambda reader: reader.rows(_HISTORY, {"session_id": session_id}))
        return [row.item for row in rows]

    async def record(
        self,
        session_id: str,
        runner_id: str,
        items: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[EventSpec] = (),
        devin_message: str | None = None,
        tokens: tuple[int, int] = (0, 0),
    ) -> Control:
        """One step, stored atomically: history items, events, an optional devin message, token usage.

        Returns what the agent must know before its next step, read in the same transaction (one round trip
        per step: this is the runner's hot path, so it uses Core statements rather than ORM loads).
        """
        now = self.clock()
        limit = self.detail_chars
        step_values = {
            "session_id": session_id,
            "runner_id": runner_id,
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "items": len(items),
            "now": now,
        }

        def step(conn: Connection) -> Row[Any] | None:
            held = conn.execute(_RECORD_STEP, step_values).first()
            if held is None:
                return None
            if items:
                first = held.history_length - len(items)
                conn.execute(
                    insert(HistoryRow),
                    [
                        {"session_id": session_id, "seq": first + i, "item": item, "created_at": now}
                        for i, item in enumerate(items)
                    ],
                )
            event_rows = [
                _event_row(session_id, ev.event_type, ev.category, ev.summary, ev.data, now, limit) for ev in events
            ]
            if devin_message is not None:
                message_id = new_id("event")
                conn.execute(
                    insert(MessageRow).values(
                        id=message_id,
                        session_id=session_id,
                        source="devin",
                        message=devin_message,
                        consumed=True,
                        created_at=now,
                    )
                )
                event_rows.append(
                    _event_row(
                        session_id,
                        "devin_message",
                        Category.MESSAGE,
                        _summary(devin_message),
                        {"message": devin_message},
                        now,
                        limit,
                    )
                )
                data = outbox.message_data(session_id, None, message_id, "devin", devin_message, now)
                outbox.enqueue_core(conn, session_id, outbox.SESSION_MESSAGE, data, now=now)
            if event_rows:
                conn.execute(insert(EventRow), event_rows)
            return held

        held = await self.db.write_batch(step)
        if held is None:
            raise LeaseLostError(f"session {session_id} is no longer held by this runner")
        pending_count = held.pending
        state = SessionState(S(held.status), D(held.status_detail) if held.status_detail else None, held.is_archived)
        if state.terminated:
            return Control("terminated by the user", 0)
        if state.is_archived:
            return Control("archived", 0)
        return Control(None, int(pending_count or 0))

    async def absorb_user_messages(self, session_id: str, runner_id: str, wrap: Any) -> list[str]:
        """Move the user's new messages into the agent's history, exactly once (one transaction).

        ``wrap(text) -> dict`` turns a message into a history item. Core statements in one batch: the runner asks at
        every turn, and most turns find nothing.
        """
        now = self.clock()

        def absorb(conn: Connection) -> list[str]:
            holder = conn.execute(_HOLDER_FOR_UPDATE, {"session_id": session_id}).first()
            if holder is None:
                raise NotFoundError(f"session {session_id} not found")
            if holder.claimed_by != runner_id:
                raise LeaseLostError(f"session {session_id} is no longer held by this runner")
            rows = conn.execute(_UNCONSUMED, {"session_id": session_id}).all()
            if not rows:
                return []
            conn.execute(update(MessageRow).where(MessageRow.pk.in_([r.pk for r in rows])).values(consumed=True))
            length = conn.execute(
                update(AgentSessionRow)
                .where(AgentSessionRow.id == session_id)
                .values(history_length=AgentSessionRow.history_length + len(rows))
                .returning(AgentSessionRow.history_length)
            ).scalar_one()
            first = int(length) - len(rows)
            conn.execute(
                insert(HistoryRow),
                [
                    {"session_id": session_id, "seq": first + i, "item": wrap(r.message), "created_at": now}
                    for i, r in enumerate(rows)
                ],
            )
            return [r.message for r in rows]

        return await self.db.write_batch(absorb)

    async def add_working_time(self, session_id: str, seconds: float) -> float:
        """Count working time; returns ``acus_consumed``. One ``UPDATE``, atomic on both databases (the runner's
        timer and its last count at the end of a run may add at the same moment), then today's usage row."""
        seconds = max(0.0, seconds)
        now = self.clock()

        def count(conn: Connection) -> float:
            row = conn.execute(_ADD_WORKING_TIME, {"session_id": session_id, "seconds": seconds}).first()
            if row is None:
                return 0.0
            add_usage(conn, row, seconds / ACU_SECONDS, now)
            return float(row.acus_consumed)

        return await self.db.write_batch(count)

    async def set_structured_output(self, session_id: str, runner_id: str, value: Any) -> None:
        now = self.clock()
        async with self.db.write() as s:
            row = await self._held(s, session_id, runner_id)
            row.structured_output = value
            row.updated_at = now
            add_event(s, session_id, "structured_output_updated", Category.OTHER, "structured output updated", now=now)

    async def attach(
        self, session_id: str, org_id: str, name: str, data: bytes, content_type: str | None
    ) -> Attachment:
        att = await self.attachments.store_bytes(org_id, name, data, content_type, source="devin")
        now = self.clock()
        async with self.db.write() as s:
            await self.attachments.link(s, session_id, [att], "devin")
            add_event(
                s,
                session_id,
                "file_attached",
                Category.FILE,
                f"attached {att.name}",
                now=now,
                data={"attachment_id": att.id},
            )
        return att

    async def user_attachments(self, session_id: str) -> list[tuple[Attachment, str]]:
        return [
            (a, str(await self.attachments.local_file(a)))
            for a, source in await self.attachments.for_session(session_id)
            if source == "user"
        ]

    def session_secrets(self, row: AgentSessionRow) -> list[dict[str, Any]]:
        return list(self.vault.decrypt_json(row.session_secrets)) if row.session_secrets else []

    # -- outcomes ----------------------------------------------------------------------------------------
    async def _transition(
        self,
        session_id: str,
        runner_id: str | None,
        change: str,
        *,
        message: str | None = None,
        error: str | None = None,
        release: bool = True,
    ) -> AgentSessionRow | None:
        now = self.clock()
        async with self.db.write() as s:
            # Locked: a user's message committed meanwhile is then counted by ``_pending`` below, never lost.
            row = await s.scalar(select(AgentSessionRow).where(AgentSessionRow.id == session_id).with_for_update())
            if row is None or (runner_id is not None and row.claimed_by != runner_id):
                return None
            state: SessionState = state_of(row)
            try:
                new = getattr(state, change)()
            except TransitionError:  # terminated or archived meanwhile: that outcome stands
                row.claimed_by = row.lease_until = None
                return None
            if change in ("finish", "ask_user") and await self._pending(s, session_id):
                # The user wrote while the model was answering: stay runnable, so the next turn reads it.
                new = SessionState(S.RUNNING, D.WORKING, state.is_archived)
            if message is not None:  # before the status change: a stream ends after a final status
                message_id = new_id("event")
                s.add(
                    MessageRow(
                        id=message_id,
                        session_id=session_id,
                        source="devin",
                        message=message,
                        consumed=True,
                        created_at=now,
                    )
                )
                add_event(
                    s,
                    session_id,
                    "devin_message",
                    Category.MESSAGE,
                    _summary(message),
                    now=now,
                    data={"message": message},
                    limit=self.detail_chars,
                )
                data = outbox.message_data(session_id, row.org_id, message_id, "devin", message, now)
                await outbox.enqueue(s, row.org_id, outbox.SESSION_MESSAGE, data, now=now)
                await s.flush()  # the ORM would otherwise insert the status event first
            await apply_state(s, row, new, now)
            if error is not None:
                row.error_message = error
            if new.detail == D.WAITING_FOR_USER:
                row.waiting_since = now
            if release:
                row.claimed_by = None
                row.lease_until = None
            return row

    @staticmethod
    async def _pending(s: AsyncSession, session_id: str) -> int:
        count = await s.scalar(
            select(func.count())
            .select_from(MessageRow)
            .where(MessageRow.session_id == session_id, MessageRow.source == "user", MessageRow.consumed.is_(False))
        )
        return int(count or 0)

    async def finish(self, session_id: str, runner_id: str, message: str | None) -> None:
        await self._transition(session_id, runner_id, "finish", message=message)

    async def wait_for_user(self, session_id: str, runner_id: str) -> None:
        await self._transition(session_id, runner_id, "ask_user")

    async def suspend_usage(self, session_id: str, runner_id: str, message: str) -> None:
        await self._transition(session_id, runner_id, "suspend_usage", message=message)

    async def fail(self, session_id: str, runner_id: str | None, message: str) -> None:
        await self._transition(session_id, runner_id, "fail", message=message, error=message)

    async def release(self, session_id: str, runner_id: str) -> None:
        async with self.db.write() as s:
            await s.execute(
                update(AgentSessionRow)
                .where(AgentSessionRow.id == session_id, AgentSessionRow.claimed_by == runner_id)
                .values(claimed_by=None, lease_until=None)
            )

    async def stopped_sessions(self, session_ids: Sequence[str]) -> set[str]:
        """Those of ``session_ids`` that were terminated or archived (for runners in other processes)."""
        if not session_ids:
            return set()
        async with self.db.read() as s:
            rows = await s.scalars(
                select(AgentSessionRow.id).where(
                    AgentSessionRow.id.in_(session_ids),
                    or_(
                        AgentSessionRow.is_archived.is_(True),
                        (AgentSessionRow.status == S.EXIT.value)
                        & (AgentSessionRow.status_detail == D.USER_REQUEST.value),
                    ),
                )
            )
            return set(rows)


async def _take(s: AsyncSession, row: AgentSessionRow, runner_id: str, lease: float, now: float, why: str) -> None:
    """Claim ``row`` (locked) for ``runner_id``; a session its dead runner held continues from the stored history."""
    state = state_of(row)
    if state.status in (S.CLAIMED, S.RUNNING) and row.claimed_by is not None:
        state = state.requeue()  # its runner died: continue from the stored history
        add_event(
            s,
            row.id,
            "runner_lost",
            Category.LIFECYCLE,
            f"{why}; resumed at step {row.history_length}",
            now=now,
            data={"resumed_at_step": row.history_length, "previous_runner": row.claimed_by},
        )
    if state.status != S.RUNNING:  # running/working unclaimed: a reply arrived while it waited
        await apply_state(s, row, state.claim(), now)
    row.claimed_by = runner_id
    row.lease_until = now + lease


_t = AgentSessionRow
_PENDING = (
    select(func.count())
    .select_from(MessageRow)
    .where(MessageRow.session_id == _t.id, MessageRow.source == "user", MessageRow.consumed.is_(False))
    .scalar_subquery()
)
"""The user's messages not yet in the agent's history, of the session in the outer statement."""

_RECORD_STEP = (
    update(_t)
    .where(_t.id == bindparam("session_id"), _t.claimed_by == bindparam("runner_id"))
    .values(
        input_tokens=_t.input_tokens + bindparam("input_tokens"),
        output_tokens=_t.output_tokens + bindparam("output_tokens"),
        history_length=_t.history_length + bindparam("items"),
        updated_at=bindparam("now"),
    )
    .returning(_t.status, _t.status_detail, _t.is_archived, _t.history_length, _PENDING.label("pending"))
)
"""``Runs.record``'s first statement, built once: it runs at every step of every session."""

_CONTROL = Prepared(
    select(_t.status, _t.status_detail, _t.is_archived, _t.claimed_by, _PENDING.label("pending")).where(
        _t.id == bindparam("session_id")
    )
)

_HOLDER_FOR_UPDATE = select(_t.claimed_by).where(_t.id == bindparam("session_id")).with_for_update()
"""The session's holder, its row locked until the transaction ends (the lease's fence for a write)."""

_UNCONSUMED = (
    select(MessageRow.pk, MessageRow.message)
    .where(
        MessageRow.session_id == bindparam("session_id"), MessageRow.source == "user", MessageRow.consumed.is_(False)
    )
    .order_by(MessageRow.pk)
)

_HISTORY = Prepared(
    select(HistoryRow.item).where(HistoryRow.session_id == bindparam("session_id")).order_by(HistoryRow.seq)
)

_ADD_WORKING_TIME = (
    update(_t)
    .where(_t.id == bindparam("session_id"))
    .values(
        working_seconds=_t.working_seconds + bindparam("seconds"),
        acus_consumed=(_t.working_seconds + bindparam("seconds")) / ACU_SECONDS,
    )
    .returning(_t.id, _t.org_id, _t.service_user_id, _t.user_id, _t.acus_consumed)
)


def _event_row(
    session_id: str,
    event_type: str,
    category: Category,
    summary: str,
    data: dict[str, Any] | None,
    now: float,
    limit: int = DEFAULT_DETAIL_CHARS,
) -> dict[str, Any]:
    return {
        "id": new_id("event"),
        "session_id": session_id,
        "event_type": event_type,
        "category": category.value,
        "direction": "outgoing",
        "summary": summary[:2000],
        "details": clip_details(data, limit),
        "created_at": now,
    }


def _summary(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:199] + "…"
