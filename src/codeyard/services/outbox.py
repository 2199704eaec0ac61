"""The webhook outbox: a row per webhook-worthy happening, added in the same transaction as the change that
caused it, so a delivery is never lost to a crash between the two (contract §10). The deliverer fans rows out to
the org's webhooks. An org without webhooks gets no rows.

Each row holds the delivery body of the Standard Webhooks spec, ``{type, timestamp, data}``: ``timestamp`` is
when it happened (ISO 8601, UTC), ``data`` the session, message or schedule run, as it was then.
"""

import datetime
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from codeyard.domain.ids import new_id
from codeyard.storage.notify import WEBHOOKS
from codeyard.storage.tables import AgentSessionRow, Webhook, WebhookMessage

SESSION_CREATED = "session.created"
SESSION_STATUS_CHANGED = "session.status_changed"
SESSION_MESSAGE = "session.message"
SESSION_PULL_REQUEST = "session.pull_request"
SCHEDULE_FIRED = "schedule.fired"
TYPES = (SESSION_CREATED, SESSION_STATUS_CHANGED, SESSION_MESSAGE, SESSION_PULL_REQUEST, SCHEDULE_FIRED)


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row(org_id: Any, event_type: str, data: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        "id": new_id("msg").replace("-", "_", 1),
        "org_id": org_id,
        "event_type": event_type,
        "payload": {"type": event_type, "timestamp": iso(now), "data": data},
        "created_at": now,
    }


NOTIFY_CHANNEL = WEBHOOKS
"""On PostgreSQL, the channel NOTIFYed at the commit of any transaction (of any process) that added messages."""
_FLAG = "codeyard.outbox_written"
_listeners: list[Callable[[], None]] = []


def on_commit(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (from any thread) after each commit in this process that added outbox messages through
    ``enqueue``; returns the function that unregisters it. A deliverer in the same process uses it to send at once
    instead of at its next poll."""
    _listeners.append(callback)
    return lambda: _listeners.remove(callback)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        for callback in list(_listeners):
            callback()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_FLAG, None)


async def enqueue(s: AsyncSession, org_id: str, event_type: str, data: dict[str, Any], *, now: float) -> None:
    """Add a message to the outbox inside the caller's transaction, if the org has a webhook.

    A webhook gets the messages written after it was made, so an org without one has nobody to write for: no row,
    no wake-up of every process's deliverer, no fan-out that only deletes it (most orgs have no webhook, and
    every step of every session writes messages)."""
    if await s.scalar(_HAS_WEBHOOK, {"org_id": org_id}) is None:
        return
    s.add(WebhookMessage(**_row(org_id, event_type, data, now)))
    s.info[_FLAG] = True


def enqueue_core(conn: Connection, session_id: str, event_type: str, data: dict[str, Any], *, now: float) -> None:
    """The same on a Core connection (the runner's per-step batch), the org read from the session."""
    org_id = conn.execute(_ORG_WITH_WEBHOOK, {"session_id": session_id}).scalar_one_or_none()
    if org_id is None:
        return
    conn.execute(insert(WebhookMessage).values(**_row(org_id, event_type, data, now)))


_HAS_WEBHOOK = select(Webhook.pk).where(Webhook.org_id == bindparam("org_id")).limit(1)
_ORG_WITH_WEBHOOK = select(AgentSessionRow.org_id).where(
    AgentSessionRow.id == bindparam("session_id"),
    select(Webhook.pk).where(Webhook.org_id == AgentSessionRow.org_id).exists(),
)
"""The session's org, if it has a webhook (one statement on the runner's per-step path)."""


def session_data(row: AgentSessionRow) -> dict[str, Any]:
    """The session as the webhook's ``data`` (the fields of ``SessionResponse`` that say what happened)."""
    return {
        "session_id": row.id,
        "org_id": row.org_id,
        "status": row.status,
        "status_detail": row.status_detail,
        "title": row.title,
        "tags": list(row.tags or []),
        "origin": row.origin,
        "schedule_id": row.schedule_id,
        "is_archived": bool(row.is_archived),
        "pull_requests": [
            {"pr_url": pr.get("pr_url"), "pr_state": pr.get("pr_state"), "url": pr.get("pr_url")}
            for pr in row.pull_requests or []
        ],
        "acus_consumed": round(row.acus_consumed or 0.0, 4),
        "created_at": int(row.created_at),
        "updated_at": int(row.updated_at),
    }


def message_data(
    session_id: str, org_id: str | None, message_id: str, source: str, text: str, now: float
) -> dict[str, Any]:
    """A message as the webhook's ``data``: the item of ``GET …/messages`` with its session."""
    data: dict[str, Any] = {
        "session_id": session_id,
        "event_id": message_id,
        "source": source,
        "message": text,
        "created_at": int(now),
    }
    if org_id is not None:
        data["org_id"] = org_id
    return data
