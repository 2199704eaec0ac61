"""Live streams (contract §10): ``GET …/sessions/{id}/stream`` and ``GET …/stream`` as ``text/event-stream``.

Each event is ``id: <event_id>``, ``event: <event_type>``, ``data: <the event as GET …/events renders it>``.
A stream first replays from the table what came after ``Last-Event-ID`` (header, or ``?last_event_id=``),
then follows the process's event feed, skipping what the replay already sent: no gap, no duplicate. The replay
stops where the feed has settled (on PostgreSQL an event can become visible after a later one; the feed puts
them back in order). A session
stream ends after a final status (``exit``, ``error``, ``suspended``); a client that falls too far behind is
cut and resumes by replay. ``Last-Event-ID: 0`` means "before the first event". Framing, heartbeats and send
timeouts are sse-starlette's.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from codeyard.api import render
from codeyard.api.deps import OrgId, StateDep, require
from codeyard.api.state import AppState
from codeyard.services.events import FINAL_STATUSES
from codeyard.services.principal import Permission
from codeyard.storage.tables import EventRow

router = APIRouter(tags=["streams"])
VIEW = [require(Permission.VIEW_SESSIONS)]
REPLAY_PAGE = 500
CUT_COMMENT = "cut: this client fell behind; reconnect with Last-Event-ID"

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `id` is the event id, `event` its type, `data` the event's JSON.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
LastEventHeader = Annotated[
    str | None, Header(alias="Last-Event-ID", description="Resume after this event (sent by EventSource).")
]
LastEventQuery = Annotated[str | None, Query(max_length=200, description="Resume after this event id.")]


@router.get("/sessions/{devin_id}/stream", dependencies=VIEW, response_class=EventSourceResponse, responses=_STREAM_DOC)
async def stream_session(
    devin_id: str,
    org: OrgId,
    state: StateDep,
    last_event_id: LastEventQuery = None,
    last_event_header: LastEventHeader = None,
) -> EventSourceResponse:
    """Every event of the session as it happens, from its first one (or after ``Last-Event-ID``)."""
    session = await state.services.sessions.get(org, devin_id)
    cursor, _ = await state.services.sessions.stream_cursor(org, session.id, last_event_header or last_event_id)
    return _response(state, _events(state, org, session.id, cursor))


@router.get("/stream", dependencies=VIEW, response_class=EventSourceResponse, responses=_STREAM_DOC)
async def stream_org(
    org: OrgId,
    state: StateDep,
    last_event_id: LastEventQuery = None,
    last_event_header: LastEventHeader = None,
) -> EventSourceResponse:
    """Every event of every session of the organization from now on (or after ``Last-Event-ID``).

    A new stream opens with an ``id:``-only message naming the org's newest event (``0`` when there is none), so a
    client cut before its first event still has a ``Last-Event-ID`` to resume from."""
    resume = last_event_header or last_event_id
    cursor, event_id = await state.services.sessions.stream_cursor(
        org, None, resume, until=state.services.event_feed.settled
    )
    return _response(state, _events(state, org, None, cursor, start_id=None if resume else event_id))


def _response(state: AppState, events: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    settings = state.settings
    return EventSourceResponse(
        events,
        ping=settings.stream_heartbeat,
        send_timeout=settings.stream_send_timeout,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(row: EventRow) -> ServerSentEvent:
    return ServerSentEvent(render.event(row).model_dump_json(), event=row.event_type, id=row.id)


def _is_final(row: EventRow) -> bool:
    return row.event_type == "status_changed" and (row.details or {}).get("status") in FINAL_STATUSES


async def _events(
    state: AppState, org: str, session_id: str | None, cursor: int, start_id: str | None = None
) -> AsyncIterator[ServerSentEvent]:
    sessions = state.services.sessions
    feed = state.services.event_feed
    async with feed.subscribe(org, session_id) as subscription:
        if start_id is not None:  # once subscribed: a client that sees it misses nothing written afterwards
            yield ServerSentEvent(id=start_id)
        last = cursor

        async def replay(*, settled: bool = True) -> AsyncIterator[EventRow]:
            """From the table; up to where the feed has settled, except after the session's end (nothing of it is
            in flight any more)."""
            nonlocal last
            while True:
                until = feed.settled if settled else None
                rows = await sessions.events_after(org, session_id, last, REPLAY_PAGE, until=until)
                for row in rows:
                    last = row.pk
                    yield row
                if len(rows) < REPLAY_PAGE:
                    return

        async for row in replay():
            yield _sse(row)
        if session_id is not None and (await sessions.status_of(session_id))[0] in FINAL_STATUSES:
            async for row in replay(settled=False):  # whatever was written while the status was read
                yield _sse(row)
            return
        while True:
            batch = await subscription.next_batch()
            if subscription.cut:  # too far behind: say so (a comment, ignored by EventSource) and end
                yield ServerSentEvent(comment=CUT_COMMENT)
                return
            ending = False
            for row in batch:
                if row.pk <= last:
                    continue  # the replay sent it
                last = row.pk
                yield _sse(row)
                ending = ending or (session_id is not None and _is_final(row))
            if ending:
                async for row in replay(settled=False):  # the rest of the final transaction, if the feed split it
                    yield _sse(row)
                return
