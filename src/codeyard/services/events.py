"""Session events (contract §4, §10): everything that happened, with its ``details``, for ``GET …/events``,
the live streams and the session page.

Details are redacted by whoever writes them (the runner knows the session's secrets) and cut here: every
string longer than the configured size keeps its head and tail around a marker saying how much was cut.
"""

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.domain.ids import new_id
from codeyard.storage.tables import EventRow


class Category(StrEnum):
    SHELL = "shell"
    FILE = "file"
    SEARCH = "search"
    BROWSER = "browser"
    MCP = "mcp"
    GIT = "git"
    MESSAGE = "message"
    STATUS = "status"
    SECRET = "secret"
    TODO = "todo"
    RECORDING = "recording"
    KNOWLEDGE = "knowledge"
    PLAYBOOK = "playbook"
    WEBHOOK = "webhook"
    LIFECYCLE = "lifecycle"
    OTHER = "other"


DEFAULT_DETAIL_CHARS = 4000
"""Longest string kept whole in an event's details (``CODEYARD_EVENT_DETAILS_MAX_CHARS``)."""
FINAL_STATUSES = frozenset({"exit", "error", "suspended"})
"""A session stream ends after a status change to one of these."""


def excerpt(text: str, limit: int) -> str:
    """``text`` whole when it fits, else its head and tail around a ``[… N characters cut …]`` marker."""
    if len(text) <= limit:
        return text
    keep = max(limit, 40)
    head = keep * 2 // 3
    tail = keep - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… {cut} characters cut …]\n{text[len(text) - tail :]}"


def clip_details(details: dict[str, Any] | None, limit: int = DEFAULT_DETAIL_CHARS) -> dict[str, Any]:
    """Details with every long string cut (see ``excerpt``); ``truncated`` lists the keys that were cut."""
    clipped: dict[str, Any] = {}
    cut: list[str] = []
    for key, value in (details or {}).items():
        if isinstance(value, str) and len(value) > limit:
            clipped[key] = excerpt(value, limit)
            cut.append(key)
        else:
            clipped[key] = value
    if cut:
        clipped["truncated"] = sorted({*clipped.get("truncated", []), *cut})
    return clipped


def add_event(
    s: AsyncSession,
    session_id: str,
    event_type: str,
    category: Category,
    summary: str,
    *,
    now: float,
    incoming: bool = False,
    data: dict[str, Any] | None = None,
    limit: int = DEFAULT_DETAIL_CHARS,
) -> EventRow:
    """Add an event to ``s``; ``data`` becomes its ``details`` (cut to ``limit``, already redacted)."""
    row = EventRow(
        id=new_id("event"),
        session_id=session_id,
        event_type=event_type,
        category=category.value,
        direction="incoming" if incoming else "outgoing",
        summary=summary[:2000],
        details=clip_details(data, limit),
        created_at=now,
    )
    s.add(row)
    return row
