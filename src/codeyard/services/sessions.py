"""Sessions: create, read, list, steer (messages, tags, archive, terminate) — the API's half of contract §4.

Status changes go through ``codeyard.domain.lifecycle``; the runner drives the other half through
``codeyard.services.runs``.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog
from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from codeyard.domain.ids import ENTERPRISE_SCOPE, new_id, new_session_id, normalize_session_id
from codeyard.domain.lifecycle import RUNNABLE, SessionState, SessionStatus, StatusDetail, TransitionError
from codeyard.domain.queue import fair_order
from codeyard.errors import BadRequestError, FieldError, InvalidTransitionError, NotFoundError
from codeyard.services import outbox
from codeyard.services.attachments import ATTACHMENT_LINE, Attachments, attachment_line_urls
from codeyard.services.clock import Clock, system_clock
from codeyard.services.crypto import Vault
from codeyard.services.dispatch import Dispatcher
from codeyard.services.events import DEFAULT_DETAIL_CHARS, Category, add_event
from codeyard.services.org_tags import apply_allowed_tags
from codeyard.services.pagination import MAX_PAGE, Page, decode_cursor, encode_cursor
from codeyard.services.playbooks import macro_lookup
from codeyard.services.principal import Principal
from codeyard.storage.db import Database
from codeyard.storage.prepared import Prepared, Reader
from codeyard.storage.tables import (
    AgentSessionRow,
    EventRow,
    KnowledgeNote,
    MessageRow,
    Playbook,
    Secret,
    ServiceUser,
    SessionLabel,
)

Row = TypeVar("Row", MessageRow, EventRow)
START = "0"
"""The ``Last-Event-ID`` before a stream's first event."""

log = structlog.get_logger("codeyard.sessions")
MACRO = re.compile(r"(?<![\w!-])(![A-Za-z0-9_-]{1,63})(?![\w-])")
"""A playbook macro in a prompt (the format of ``services.playbooks.MACRO_FORMAT``), e.g. ``!deploy``."""


@dataclass
class NewSession:
    prompt: str
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    playbook_id: str | None = None
    knowledge_ids: list[str] | None = None
    secret_ids: list[str] | None = None
    session_secrets: list[dict[str, Any]] | None = None
    max_acu_limit: float | None = None
    repos: list[str] = field(default_factory=list)
    attachment_urls: list[str] = field(default_factory=list)
    structured_output_schema: dict[str, Any] | None = None
    request: dict[str, Any] = field(default_factory=dict)
    """Every received field (without secret values), recorded as-is."""
    origin: str = "api"
    schedule_id: str | None = None
    user_id: str | None = None


class SessionView(Protocol):
    """What a session read shows (``AgentSessionRow`` has it, and so has the row of ``_VIEW``): the hot reads
    select these columns only, as plain rows, not the ORM entity with its prompt and recorded request."""

    @property
    def id(self) -> str: ...
    @property
    def org_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def status_detail(self) -> str | None: ...
    @property
    def is_archived(self) -> bool: ...
    @property
    def title(self) -> str: ...
    @property
    def tags(self) -> list[Any]: ...
    @property
    def playbook_id(self) -> str | None: ...
    @property
    def max_acu_limit(self) -> float | None: ...
    @property
    def repos(self) -> list[Any]: ...
    @property
    def structured_output(self) -> Any | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def service_user_id(self) -> str | None: ...
    @property
    def parent_session_id(self) -> str | None: ...
    @property
    def origin(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def subcategory(self) -> str | None: ...
    @property
    def schedule_id(self) -> str | None: ...
    @property
    def pull_requests(self) -> list[Any]: ...
    @property
    def acus_consumed(self) -> float: ...
    @property
    def claimed_by(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def created_at(self) -> float: ...
    @property
    def updated_at(self) -> float: ...


class MessageView(Protocol):
    """A message as the reads show it (``MessageRow``, or a plain row of the ``messages`` table)."""

    @property
    def pk(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def created_at(self) -> float: ...


@dataclass(frozen=True)
class SessionFilters:
    tags: Sequence[str] = ()
    session_ids: Sequence[str] = ()
    origins: Sequence[str] = ()
    repo_names: Sequence[str] = ()
    service_user_ids: Sequence[str] = ()
    user_ids: Sequence[str] = ()
    playbook_id: str | None = None
    schedule_id: str | None = None
    category: str | None = None
    is_archived: bool | None = None
    created_after: float | None = None
    created_before: float | None = None
    updated_after: float | None = None
    updated_before: float | None = None


def make_title(prompt: str) -> str:
    """A title from the prompt's first meaningful line, at most 80 characters."""
    for line in prompt.splitlines():
        line = line.strip()
        if line and not ATTACHMENT_LINE.fullmatch(line):
            return line if len(line) <= 80 else line[:79].rstrip() + "…"
    return "Untitled session"


def repo_name(repo: str) -> str:
    """``owner/repo`` for a git URL or an ``owner/repo`` string (for the ``repo_names`` filter)."""
    cleaned = repo.strip().rstrip("/").removesuffix(".git")
    parts = [p for p in re.split(r"[/:]", cleaned) if p]
    return "/".join(parts[-2:]) if len(parts) >= 2 else cleaned


def state_of(row: AgentSessionRow) -> SessionState:
    detail = StatusDetail(row.status_detail) if row.status_detail else None
    return SessionState(SessionStatus(row.status), detail, row.is_archived)


def lifecycle_event(old: SessionState, new: SessionState) -> str:
    """The word of the server log for a change of state: started, finished, failed, resumed, …"""
    if new.status == SessionStatus.CLAIMED:
        return "started"  # a runner took it and prepares its sandbox
    if new.status == SessionStatus.RESUMING:
        return "resumed"
    if new.status == SessionStatus.ERROR:
        return "failed"
    if new.status == SessionStatus.EXIT:
        return "terminated" if new.detail == StatusDetail.USER_REQUEST else "finished"
    if new.detail == StatusDetail.WAITING_FOR_USER:
        return "waiting for the user"
    if new.detail == StatusDetail.WORKING:
        return "working"
    return new.status.value


async def apply_state(s: AsyncSession, row: AgentSessionRow, new: SessionState, now: float, reason: str = "") -> None:
    """Store a lifecycle state, record a status event when it changed, and say so in the server log."""
    old = state_of(row)
    row.status, row.status_detail, row.is_archived = new.status.value, new.detail and new.detail.value, new.is_archived
    row.updated_at = now
    if (old.status, old.detail) != (new.status, new.detail):
        log.info(
            f"session {lifecycle_event(old, new)}",
            session_id=row.id,
            org_id=row.org_id,
            status=new.status.value,
            status_detail=new.detail and new.detail.value,
            reason=reason or None,
        )
        shown = new.status.value + (f"/{new.detail.value}" if new.detail else "")
        add_event(
            s,
            row.id,
            "status_changed",
            Category.STATUS,
            reason or f"status is now {shown}",
            now=now,
            data={"status": new.status.value, "status_detail": new.detail and new.detail.value},
        )
        data = outbox.session_data(row) | {"previous_status": old.status.value, "previous_status_detail": old.detail}
        await outbox.enqueue(s, row.org_id, outbox.SESSION_STATUS_CHANGED, data, now=now)


class Sessions:
    def __init__(
        self, db: Database, vault: Vault, attachments: Attachments, dispatcher: Dispatcher, clock: Clock = system_clock
    ) -> None:
        self.db = db
        self.vault = vault
        self.attachments = attachments
        self.dispatcher = dispatcher
        self.clock = clock
        self.detail_chars = DEFAULT_DETAIL_CHARS
        """Longest string kept whole in an event's details (set from the settings by the container)."""

    # -- create ----------------------------------------------------------------------------------------
    async def create(self, principal: Principal, org_id: str, spec: NewSession) -> AgentSessionRow:
        now = self.clock()
        session_id = new_session_id()
        async with self.db.write() as s:
            playbook_id = await self._check_refs(s, org_id, spec)
            tags = await apply_allowed_tags(s, org_id, _dedupe(spec.tags))
            urls = [*spec.attachment_urls, *attachment_line_urls(spec.prompt)]
            files = await self.attachments.resolve_urls(s, org_id, urls, "attachment_urls")
            row = AgentSessionRow(
                id=session_id,
                org_id=org_id,
                status=SessionStatus.NEW.value,
                status_detail=None,
                is_archived=False,
                title=(spec.title or "").strip()[:500] or make_title(spec.prompt),
                prompt=spec.prompt,
                tags=tags,
                playbook_id=playbook_id,
                knowledge_ids=spec.knowledge_ids,
                secret_ids=spec.secret_ids,
                session_secrets=self.vault.encrypt_json(spec.session_secrets) if spec.session_secrets else None,
                max_acu_limit=spec.max_acu_limit,
                repos=list(spec.repos),
                structured_output_schema=spec.structured_output_schema,
                structured_output=None,
                request=spec.request,
                user_id=spec.user_id,
                service_user_id=principal.service_user_id,
                origin=spec.origin,
                schedule_id=spec.schedule_id,
                pull_requests=[],
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await s.flush()
            self._set_labels(s, row)
            prompt_id = new_id("event")
            s.add(
                MessageRow(
                    id=prompt_id,
                    session_id=session_id,
                    source="user",
                    message=spec.prompt,
                    consumed=False,
                    created_at=now,
                )
            )
            await outbox.enqueue(s, org_id, outbox.SESSION_CREATED, outbox.session_data(row), now=now)
            data = outbox.message_data(session_id, org_id, prompt_id, "user", spec.prompt, now)
            await outbox.enqueue(s, org_id, outbox.SESSION_MESSAGE, data, now=now)
            add_event(
                s,
                session_id,
                "session_created",
                Category.LIFECYCLE,
                f"session created ({spec.origin})",
                now=now,
                incoming=True,
                data={"origin": spec.origin, "title": row.title},
            )
            add_event(
                s,
                session_id,
                "user_message",
                Category.MESSAGE,
                _summary(spec.prompt),
                now=now,
                incoming=True,
                data={"message": spec.prompt},
                limit=self.detail_chars,
            )
            await self.attachments.link(s, session_id, files, "user")
        log.info("session created", session_id=session_id, org_id=org_id, origin=spec.origin)
        await self.dispatcher.session_ready(session_id)
        return row

    async def _check_refs(self, s: AsyncSession, org_id: str, spec: NewSession) -> str | None:
        """Referenced playbook, notes and secrets must exist in the org, or for playbooks and notes be
        enterprise-wide (422 naming the field otherwise)."""
        shared = (org_id, ENTERPRISE_SCOPE)
        playbook_id = spec.playbook_id
        if playbook_id is not None:
            found_pk = await s.scalar(
                select(Playbook.pk).where(Playbook.id == playbook_id, Playbook.org_id.in_(shared))
            )
            if found_pk is None:
                raise FieldError("playbook_id", f"playbook {playbook_id} not found")
        else:
            for macro in MACRO.findall(spec.prompt):
                found = await s.scalar(macro_lookup(org_id, macro))
                if found is not None:
                    playbook_id = found.id
                    break
        for name, table, ids, owners in (
            ("knowledge_ids", KnowledgeNote, spec.knowledge_ids, shared),
            ("secret_ids", Secret, spec.secret_ids, (org_id,)),
        ):
            if ids:
                count = await s.scalar(
                    select(func.count()).select_from(table).where(table.id.in_(set(ids)), table.org_id.in_(owners))
                )
                if count != len(set(ids)):
                    raise FieldError(name, f"some of the {name} do not exist in this organization")
        return playbook_id

    # -- read ------------------------------------------------------------------------------------------
    # Reads run as one synchronous snapshot on a worker thread (``Database.read_batch``): these are the API's
    # hottest paths, and the async driver would pay a thread hop per statement.
    async def get(self, org_id: str, session_id: str) -> AgentSessionRow:
        return await self.db.read_batch(lambda s: _find(s, org_id, session_id))

    async def get_with_position(self, org_id: str, session_id: str) -> tuple[SessionView, int | None]:
        """A session and, while it waits for a runner, its 1-based place in the queue, in one read."""
        normalized = normalize_session_id(session_id)

        def read(reader: Reader) -> tuple[SessionView, int | None]:
            found = [] if normalized is None else reader.rows(_VIEW, {"id": normalized, "org_id": org_id})
            if not found:
                raise NotFoundError(f"session {session_id[:80]} not found")
            row: SessionView = found[0]
            if row.status not in RUNNABLE or row.claimed_by is not None:
                return row, None
            order = _queue_order(reader)
            return row, order.index(row.id) + 1 if row.id in order else None

        return await self.db.read_rows(read)

    async def _load(self, s: AsyncSession, org_id: str | None, session_id: str) -> AgentSessionRow:
        """The session inside a write transaction, its row locked until the commit (PostgreSQL; SQLite has one
        writer at a time), so a runner settling the session and this request never act on the same old state
        (404 when it is not in ``org_id``)."""
        query = _lookup(org_id, session_id)
        row = None if query is None else await s.scalar(query.with_for_update())
        if row is None:
            raise NotFoundError(f"session {session_id[:80]} not found")
        return row

    async def find_any_org(self, session_id: str) -> AgentSessionRow:
        """For the session page, whose link carries no org: the caller checks access afterwards."""
        return await self.db.read_batch(lambda s: _find(s, None, session_id))

    async def list_sessions(
        self, org_id: str | None, filters: SessionFilters, *, after: str | None, first: int
    ) -> Page[AgentSessionRow]:
        """Newest first; ``org_id`` None lists every organization's (the enterprise mirror)."""
        cursor = decode_cursor(after)
        base = select(AgentSessionRow)
        query = self._filtered(base if org_id is None else base.where(AgentSessionRow.org_id == org_id), filters)

        def read(s: Session) -> tuple[int | None, list[AgentSessionRow]]:
            total = s.scalar(select(func.count()).select_from(query.subquery()))
            page = query.where(AgentSessionRow.pk < cursor) if cursor is not None else query
            return total, list(s.scalars(page.order_by(AgentSessionRow.pk.desc()).limit(min(first, MAX_PAGE) + 1)))

        total, rows = await self.db.read_batch(read)
        has_next = len(rows) > first
        rows = rows[:first]
        return Page(rows, encode_cursor(rows[-1].pk) if has_next and rows else None, has_next, total)

    @staticmethod
    def _filtered(query: Select[AgentSessionRow], f: SessionFilters) -> Select[AgentSessionRow]:
        t = AgentSessionRow
        for kind, values in (("tag", f.tags), ("repo", f.repo_names)):
            if values:
                query = query.where(
                    select(SessionLabel.pk)
                    .where(SessionLabel.session_id == t.id, SessionLabel.kind == kind, SessionLabel.value.in_(values))
                    .exists()
                )
        if f.session_ids:
            query = query.where(t.id.in_([normalize_session_id(i) or i for i in f.session_ids]))
        listed: list[tuple[InstrumentedAttribute[Any], Sequence[str]]] = [
            (t.origin, f.origins),
            (t.service_user_id, f.service_user_ids),
            (t.user_id, f.user_ids),
        ]
        for attr, values in listed:
            if values:
                query = query.where(attr.in_(values))
        equal: list[tuple[InstrumentedAttribute[Any], object]] = [
            (t.playbook_id, f.playbook_id),
            (t.schedule_id, f.schedule_id),
            (t.category, f.category),
            (t.is_archived, f.is_archived),
        ]
        for attr, value in equal:
            if value is not None:
                query = query.where(attr == value)
        ranges: list[tuple[InstrumentedAttribute[float], float | None, float | None]] = [
            (t.created_at, f.created_after, f.created_before),
            (t.updated_at, f.updated_after, f.updated_before),
        ]
        for column, low, high in ranges:
            if low is not None:
                query = query.where(column >= low)
            if high is not None:
                query = query.where(column <= high)
        return query

    async def queue_positions(self, session_ids: Sequence[str]) -> dict[str, int]:
        """1-based position of unclaimed runnable sessions in the runner's fair order (``domain.queue``)."""
        if not session_ids:
            return {}
        waiting = await self.db.read_rows(_queue_order)
        wanted = set(session_ids)
        return {sid: i + 1 for i, sid in enumerate(waiting) if sid in wanted}

    # -- messages --------------------------------------------------------------------------------------
    async def messages(self, org_id: str, session_id: str, *, after: str | None, first: int) -> Page[MessageView]:
        """A page of a session's messages, oldest first, in one snapshot of plain rows (a hot read)."""
        cursor = decode_cursor(after)
        normalized = normalize_session_id(session_id)

        def read(reader: Reader) -> tuple[int, list[MessageView]]:
            rows = (
                [] if normalized is None else reader.rows(_ID_AND_MESSAGE_COUNT, {"id": normalized, "org_id": org_id})
            )
            if not rows:
                raise NotFoundError(f"session {session_id[:80]} not found")
            found, total = rows[0]
            page = {"session_id": found, "after": -1 if cursor is None else cursor, "limit": first + 1}
            return int(total), list(reader.rows(_MESSAGES, page))

        total, items = await self.db.read_rows(read)
        has_next = len(items) > first
        items = items[:first]
        return Page(items, encode_cursor(items[-1].pk) if has_next else None, has_next, total)

    async def _oldest_first(
        self,
        org_id: str,
        session_id: str,
        table: type[Row],
        conditions: list[ColumnElement[bool]],
        after: str | None,
        first: int,
    ) -> Page[Row]:
        """A page of a session's events, oldest first, in one snapshot."""
        cursor = decode_cursor(after)

        def read(s: Session) -> tuple[int | None, list[Row]]:
            session = _find(s, org_id, session_id)
            query = select(table).where(table.session_id == session.id, *conditions)
            total = s.scalar(select(func.count()).select_from(query.subquery()))
            if cursor is not None:
                query = query.where(table.pk > cursor)
            return total, list(s.scalars(query.order_by(table.pk).limit(first + 1)))

        total, items = await self.db.read_batch(read)
        has_next = len(items) > first
        items = items[:first]
        return Page(items, encode_cursor(items[-1].pk) if has_next else None, has_next, total)

    async def send_message(
        self, principal: Principal, org_id: str, session_id: str, message: str, attachment_urls: Sequence[str] = ()
    ) -> AgentSessionRow:
        now = self.clock()
        async with self.db.write() as s:
            row = await self._load(s, org_id, session_id)
            try:
                new_state = state_of(row).receive_message()
            except TransitionError as exc:
                raise InvalidTransitionError(str(exc)) from exc
            urls = [*attachment_urls, *attachment_line_urls(message)]
            files = await self.attachments.resolve_urls(s, org_id, urls, "attachment_urls")
            await self.attachments.link(s, row.id, files, "user")
            message_id = new_id("event")
            s.add(
                MessageRow(
                    id=message_id,
                    session_id=row.id,
                    source="user",
                    message=message,
                    consumed=False,
                    created_at=now,
                )
            )
            data = outbox.message_data(row.id, org_id, message_id, "user", message, now)
            await outbox.enqueue(s, org_id, outbox.SESSION_MESSAGE, data, now=now)
            add_event(
                s,
                row.id,
                "user_message",
                Category.MESSAGE,
                _summary(message),
                now=now,
                incoming=True,
                data={"message": message},
                limit=self.detail_chars,
            )
            if new_state.status == SessionStatus.RESUMING:
                row.claimed_by = None
                row.lease_until = None
            old = state_of(row)
            if old.detail == StatusDetail.USAGE_LIMIT_EXCEEDED and row.max_acu_limit is not None:
                # The user asks it to go on: grant the session's budget once more from where it stopped.
                budget = float(row.request.get("max_acu_limit") or row.max_acu_limit)
                row.max_acu_limit = row.acus_consumed + budget
                add_event(
                    s,
                    row.id,
                    "usage_limit_raised",
                    Category.LIFECYCLE,
                    f"ACU limit raised to {row.max_acu_limit:g} to continue",
                    now=now,
                    incoming=True,
                )
            row.waiting_since = None
            await apply_state(
                s,
                row,
                new_state,
                now,
                reason="resumed by a user message" if new_state.status == SessionStatus.RESUMING else "",
            )
        if new_state.status in RUNNABLE:
            await self.dispatcher.session_ready(row.id)
        else:
            await self.dispatcher.session_changed(row.id)
        return row

    # -- events ----------------------------------------------------------------------------------------
    async def events(
        self,
        org_id: str,
        session_id: str,
        *,
        after: str | None,
        first: int,
        categories: Sequence[str] = (),
        event_types: Sequence[str] = (),
        direction: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> Page[EventRow]:
        conditions: list[ColumnElement[bool]] = []
        if categories:
            conditions.append(EventRow.category.in_(categories))
        if event_types:
            conditions.append(EventRow.event_type.in_(event_types))
        if direction is not None:
            conditions.append(EventRow.direction == direction)
        if created_after is not None:
            conditions.append(EventRow.created_at >= created_after)
        if created_before is not None:
            conditions.append(EventRow.created_at <= created_before)
        return await self._oldest_first(org_id, session_id, EventRow, conditions, after, first)

    # -- streams (contract §10) ------------------------------------------------------------------------
    async def stream_cursor(
        self, org_id: str, session_id: str | None, last_event_id: str | None, *, until: int | None = None
    ) -> tuple[int, str | None]:
        """Where a stream starts, as ``(pk, event id)``: after ``last_event_id`` (an event of the session, or of the
        org; ``0`` means before the first one), else at the session's first event, or, for the org stream, after
        the org's newest event up to pk ``until`` (``0`` when it has none)."""

        def read(s: Session) -> tuple[int, str]:
            query = select(EventRow.pk, EventRow.id)
            if session_id is not None:
                query = query.where(EventRow.session_id == session_id)
            else:
                query = query.join(AgentSessionRow, AgentSessionRow.id == EventRow.session_id).where(
                    AgentSessionRow.org_id == org_id
                )
            if last_event_id == START:
                return 0, START
            if last_event_id:
                found = s.execute(query.where(EventRow.id == last_event_id[:64])).first()
                if found is None:
                    raise BadRequestError("Last-Event-ID names no event of this stream")
                return int(found.pk), found.id
            if session_id is not None:
                return 0, START
            if until is not None:
                query = query.where(EventRow.pk <= until)
            newest = s.execute(query.order_by(EventRow.pk.desc()).limit(1)).first()
            return (int(newest.pk), newest.id) if newest is not None else (0, START)

        return await self.db.read_batch(read)

    async def events_after(
        self, org_id: str, session_id: str | None, after_pk: int, limit: int, *, until: int | None = None
    ) -> list[EventRow]:
        """Up to ``limit`` events of the session (or the org) after ``after_pk`` (and up to ``until``), oldest first:
        a stream's replay."""
        query = select(EventRow).where(EventRow.pk > after_pk)
        if until is not None:
            query = query.where(EventRow.pk <= until)
        if session_id is not None:
            query = query.where(EventRow.session_id == session_id)
        else:
            query = query.join(AgentSessionRow, AgentSessionRow.id == EventRow.session_id).where(
                AgentSessionRow.org_id == org_id
            )
        final = query.order_by(EventRow.pk).limit(limit)
        return await self.db.read_batch(lambda s: list(s.scalars(final)))

    async def status_of(self, session_id: str) -> tuple[str, str | None]:
        def read(s: Session) -> tuple[str, str | None]:
            row = s.execute(
                select(AgentSessionRow.status, AgentSessionRow.status_detail).where(AgentSessionRow.id == session_id)
            ).first()
            return ("exit", None) if row is None else (row.status, row.status_detail)

        return await self.db.read_batch(read)

    # -- tags ------------------------------------------------------------------------------------------
    async def set_tags(self, org_id: str, session_id: str, tags: Sequence[str], *, append: bool) -> list[str]:
        async with self.db.write() as s:
            row = await self._load(s, org_id, session_id)
            if row.is_archived:
                raise InvalidTransitionError("the session is archived and cannot be changed")
            new_tags = _dedupe([*row.tags, *tags] if append else list(tags))
            if len(new_tags) > 50:
                raise FieldError("tags", "a session has at most 50 tags")
            row.tags = new_tags
            row.updated_at = self.clock()
            await s.execute(delete(SessionLabel).where(SessionLabel.session_id == row.id, SessionLabel.kind == "tag"))
            for tag in new_tags:
                s.add(SessionLabel(session_id=row.id, kind="tag", value=tag))
            return new_tags

    # -- archive / terminate ---------------------------------------------------------------------------
    async def archive(self, org_id: str, session_id: str) -> AgentSessionRow:
        now = self.clock()
        async with self.db.write() as s:
            row = await self._load(s, org_id, session_id)
            if not row.is_archived:
                await apply_state(s, row, state_of(row).archive(), now, reason="archived")
                add_event(s, row.id, "session_archived", Category.LIFECYCLE, "session archived", now=now, incoming=True)
        await self.dispatcher.session_changed(row.id)
        return row

    async def terminate(self, org_id: str, session_id: str, *, archive: bool = False) -> AgentSessionRow:
        now = self.clock()
        async with self.db.write() as s:
            row = await self._load(s, org_id, session_id)
            state = state_of(row)
            if not state.terminated:
                await apply_state(s, row, state.terminate(), now, reason="terminated by the user")
                add_event(
                    s,
                    row.id,
                    "session_terminated",
                    Category.LIFECYCLE,
                    "terminated by the user",
                    now=now,
                    incoming=True,
                )
            if archive and not row.is_archived:
                await apply_state(s, row, state_of(row).archive(), now, reason="archived")
        await self.dispatcher.session_changed(row.id)
        return row

    async def check_user(self, org_id: str, user_id: str) -> None:
        """``create_as_user_id`` must name a user of the org: codeyard's users are its service users (404 else)."""
        async with self.db.read() as s:
            found = await s.scalar(
                select(ServiceUser.pk).where(
                    ServiceUser.id == user_id,
                    ServiceUser.deleted_at.is_(None),
                    (ServiceUser.org_id == org_id) | ServiceUser.org_id.is_(None),
                )
            )
        if found is None:
            raise NotFoundError(f"user {user_id[:80]} not found in this organization")

    async def find_same_prompt(self, org_id: str, service_user_id: str, prompt: str) -> AgentSessionRow | None:
        """The newest session of this caller with exactly this prompt that can still go on (v1 ``idempotent``)."""
        async with self.db.read() as s:
            return await s.scalar(
                select(AgentSessionRow)
                .where(
                    AgentSessionRow.org_id == org_id,
                    AgentSessionRow.service_user_id == service_user_id,
                    AgentSessionRow.prompt == prompt,
                    AgentSessionRow.is_archived.is_(False),
                    AgentSessionRow.status_detail.is_distinct_from(StatusDetail.USER_REQUEST.value),
                )
                .order_by(AgentSessionRow.pk.desc())
                .limit(1)
            )

    def _set_labels(self, s: AsyncSession, row: AgentSessionRow) -> None:
        for tag in row.tags:
            s.add(SessionLabel(session_id=row.id, kind="tag", value=tag))
        for repo in _dedupe([repo_name(r) for r in row.repos]):
            s.add(SessionLabel(session_id=row.id, kind="repo", value=repo))


_WAITING = Prepared(
    select(AgentSessionRow.id, AgentSessionRow.org_id)
    .where(
        AgentSessionRow.status.in_(sorted(st.value for st in RUNNABLE)),
        AgentSessionRow.claimed_by.is_(None),
        AgentSessionRow.is_archived.is_(False),
    )
    .order_by(AgentSessionRow.pk)
)
_RUNNING = Prepared(
    select(AgentSessionRow.org_id, func.count().label("n"))
    .where(AgentSessionRow.claimed_by.is_not(None))
    .group_by(AgentSessionRow.org_id)
)
"""Built once: building a statement costs more than running it on a small queue (a hot read asks for both)."""


def _queue_order(reader: Reader) -> list[str]:
    """Every waiting session in the order the runner serves them (round-robin across organizations)."""
    waiting = reader.rows(_WAITING)
    running = reader.rows(_RUNNING)
    return fair_order([(r.id, r.org_id) for r in waiting], {r.org_id: int(r.n) for r in running})


def _lookup(org_id: str | None, session_id: str) -> Select[AgentSessionRow] | None:
    """The query for a session by either id spelling, within ``org_id`` when given; ``None`` for a malformed id."""
    normalized = normalize_session_id(session_id)
    if normalized is None:
        return None
    query = select(AgentSessionRow).where(AgentSessionRow.id == normalized)
    return query if org_id is None else query.where(AgentSessionRow.org_id == org_id)


_T = AgentSessionRow
_VIEW_COLUMNS = (
    _T.id, _T.org_id, _T.status, _T.status_detail, _T.is_archived, _T.title, _T.tags, _T.playbook_id,
    _T.max_acu_limit, _T.repos, _T.structured_output, _T.user_id, _T.service_user_id, _T.parent_session_id,
    _T.origin, _T.category, _T.subcategory, _T.schedule_id, _T.pull_requests, _T.acus_consumed, _T.claimed_by,
    _T.error_message, _T.created_at, _T.updated_at,
)  # fmt: skip
"""The columns of ``SessionView``: a session read selects nothing else (not the prompt, the request, secrets)."""


_VIEW = Prepared(select(*_VIEW_COLUMNS).where(_T.id == bindparam("id"), _T.org_id == bindparam("org_id")))
_ID_AND_MESSAGE_COUNT = Prepared(
    select(_T.id, select(func.count()).where(MessageRow.session_id == _T.id).scalar_subquery()).where(
        _T.id == bindparam("id"), _T.org_id == bindparam("org_id")
    )
)
_MESSAGES = Prepared(
    select(MessageRow.pk, MessageRow.id, MessageRow.source, MessageRow.message, MessageRow.created_at)
    .where(MessageRow.session_id == bindparam("session_id"), MessageRow.pk > bindparam("after"))
    .order_by(MessageRow.pk)
    .limit(bindparam("limit"))
)
"""The hot reads' statements, built once with parameters."""


def _find(s: Session, org_id: str | None, session_id: str) -> AgentSessionRow:
    query = _lookup(org_id, session_id)
    row = None if query is None else s.scalar(query)
    if row is None:
        raise NotFoundError(f"session {session_id[:80]} not found")
    return row


def find_session(s: Session, org_id: str | None, session_id: str) -> AgentSessionRow:
    """A session by either id spelling within ``org_id`` (any org when None), in a synchronous read; 404 else."""
    return _find(s, org_id, session_id)


def _dedupe(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _summary(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:199] + "…"
