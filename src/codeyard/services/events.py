"""Session events (contract §4): everything that happened, for ``GET …/events`` and the session page."""

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
) -> EventRow:
    row = EventRow(
        id=new_id("event"),
        session_id=session_id,
        event_type=event_type,
        category=category.value,
        direction="incoming" if incoming else "outgoing",
        summary=summary[:2000],
        data=data or {},
        created_at=now,
    )
    s.add(row)
    return row
