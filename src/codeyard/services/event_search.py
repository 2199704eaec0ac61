"""A session's events in full and searched (the generated SDK's ``events.retrieve_details`` and ``events.search``).

Details are the stored ``details`` object (already redacted and cut when it was written), cut again to the
caller's ``max_content_length``. Search matches the query case-insensitively against each event's summary,
type and every text in its details (commands, paths, output excerpts, messages), and returns where it matched.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeyard.errors import FieldError
from codeyard.services.pagination import decode_cursor, encode_cursor
from codeyard.services.sessions import find_session
from codeyard.storage.db import Database
from codeyard.storage.tables import EventRow

MAX_SCANNED = 20_000
"""Most events of one session a search reads (newest sessions rarely have more)."""
CONTEXT_CHARS = 80


@dataclass(frozen=True)
class EventDetail:
    row: EventRow
    contents: dict[str, Any]
    truncated_fields: list[str]


@dataclass(frozen=True)
class SearchHit:
    row: EventRow
    match_context: str


def cut_contents(value: Any, limit: int, path: str = "", cut: list[str] | None = None) -> tuple[Any, list[str]]:
    """``value`` with every string longer than ``limit`` cut (head, marker), and the paths of what was cut."""
    cut = [] if cut is None else cut
    if isinstance(value, str):
        if len(value) > limit:
            cut.append(path or ".")
            return value[:limit] + f"[… {len(value) - limit} characters cut]", cut
        return value, cut
    if isinstance(value, dict):
        return {k: cut_contents(v, limit, f"{path}.{k}" if path else str(k), cut)[0] for k, v in value.items()}, cut
    if isinstance(value, list):
        return [cut_contents(v, limit, f"{path}[{i}]", cut)[0] for i, v in enumerate(value)], cut
    return value, cut


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from _texts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _texts(child)


def match_context(row: EventRow, needle: str) -> str | None:
    """The text around the first match of ``needle`` (lowercase) in the event, or ``None``."""
    for text in (row.summary, row.event_type, *_texts(row.details or {})):
        at = text.lower().find(needle)
        if at != -1:
            start, end = max(0, at - CONTEXT_CHARS), min(len(text), at + len(needle) + CONTEXT_CHARS)
            return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return None


class EventSearch:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def details(
        self,
        org_id: str,
        session_id: str,
        *,
        event_ids: Sequence[str] = (),
        offset: int | None = None,
        limit: int = 20,
        max_content_length: int = 10_000,
    ) -> list[EventDetail]:
        if event_ids and offset is not None:
            raise FieldError("event_ids", "give event_ids or offset/limit, not both", "query")
        if len(event_ids) > 20:
            raise FieldError("event_ids", "at most 20 event ids", "query")

        def read(s: Session) -> list[EventRow]:
            row = find_session(s, org_id, session_id)
            query = select(EventRow).where(EventRow.session_id == row.id).order_by(EventRow.pk)
            if event_ids:
                return list(s.scalars(query.where(EventRow.id.in_(list(event_ids)))))
            return list(s.scalars(query.offset(offset or 0).limit(limit)))

        rows = await self.db.read_batch(read)
        out = []
        for row in rows:
            contents, cut = cut_contents(row.details or {}, max_content_length)
            out.append(EventDetail(row, contents, cut))
        return out

    async def search(
        self,
        org_id: str,
        session_id: str,
        query: str,
        *,
        after: str | None,
        first: int,
        categories: Sequence[str] = (),
        event_types: Sequence[str] = (),
        direction: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> tuple[list[SearchHit], str | None, bool]:
        needle = query.strip().lower()
        cursor = decode_cursor(after)

        def read(s: Session) -> list[EventRow]:
            row = find_session(s, org_id, session_id)  # an unknown session is a 404 before the text is checked
            if not needle:
                raise FieldError("query", "the search text is required", "query")
            q = select(EventRow).where(EventRow.session_id == row.id)
            if categories:
                q = q.where(EventRow.category.in_(list(categories)))
            if event_types:
                q = q.where(EventRow.event_type.in_(list(event_types)))
            if direction is not None:
                q = q.where(EventRow.direction == direction)
            if created_after is not None:
                q = q.where(EventRow.created_at >= created_after)
            if created_before is not None:
                q = q.where(EventRow.created_at <= created_before)
            if cursor is not None:
                q = q.where(EventRow.pk > cursor)
            return list(s.scalars(q.order_by(EventRow.pk).limit(MAX_SCANNED)))

        hits: list[SearchHit] = []
        more = False
        for row in await self.db.read_batch(read):
            context = match_context(row, needle)
            if context is None:
                continue
            if len(hits) == first:
                more = True
                break
            hits.append(SearchHit(row, context))
        end = encode_cursor(hits[-1].row.pk) if more and hits else None
        return hits, end, more
