"""Following a live stream (`GET …/sessions/{id}/stream`): parse it, and reconnect with `Last-Event-ID` when the
connection drops or the server cuts a client that fell behind, so the caller sees every event once, in order.

A stream ends for good when the server ends it after a final status (`exit`, `error`, `suspended`), or when it
ends a connection without sending anything new and without saying it cut the client (a `: cut` comment).
"""

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import Any, Protocol

import httpx2
from pydantic import ValidationError

from codeyard.sdk._errors import APIConnectionError, APIError, APIStatusError, APITimeoutError
from codeyard.sdk._request import Call, path
from codeyard.sdk._sse import SSEDecoder
from codeyard.sdk.types import SessionEvent, SessionResponse

FINAL_STATUSES = frozenset({"exit", "error", "suspended"})
RECONNECT_DELAY = 0.5
"""Seconds before the first reconnection after a failure; doubled after each further one, at most 10 s."""

Until = str | Collection[str] | Callable[[SessionResponse], bool] | None
"""What `sessions.wait` waits for: a status or status detail (`"finished"`, `"waiting_for_user"`, `"exit"`), several
of them, or a predicate on the session; `None` means "the agent needs nothing more for now" (`settled`)."""


def settled(session: SessionResponse) -> bool:
    """The session stopped (`exit`, `error`, `suspended`) or waits for the user."""
    return session.status in FINAL_STATUSES or session.status_detail == "waiting_for_user"


def condition(until: Until) -> Callable[[SessionResponse], bool]:
    if until is None:
        return settled
    if callable(until):
        return until
    names = {until} if isinstance(until, str) else set(until)
    return lambda session: session.status in names or session.status_detail in names


def is_final(event: SessionEvent) -> bool:
    return event.event_type == "status_changed" and event.details.get("status") in FINAL_STATUSES


def stream_call(devin_id: str) -> Call[None]:
    return Call("GET", path("sessions", devin_id, "stream"), lambda _: None)


class SyncStreamer(Protocol):
    def _open_stream(
        self, call: Call[Any], last_event_id: str | None, read_timeout: float | None
    ) -> contextlib.AbstractContextManager[Iterator[str]]: ...


class AsyncStreamer(Protocol):
    def _open_stream(
        self, call: Call[Any], last_event_id: str | None, read_timeout: float | None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[str]]: ...


class _Progress:
    """The bookkeeping shared by the blocking and the asyncio loops."""

    def __init__(self, last_event_id: str | None, max_reconnects: int, timeout: float | None) -> None:
        self.decoder = SSEDecoder(last_event_id)
        self.max_reconnects = max_reconnects
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.failures = 0

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.01, self.deadline - time.monotonic())

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise APITimeoutError("timed out while following the session's stream")

    def event(self, data: str) -> SessionEvent:
        self.failures = 0
        try:
            return SessionEvent.model_validate_json(data)
        except ValidationError as exc:
            raise APIError(f"unexpected message on the session stream: {exc}") from exc

    def failed(self, error: Exception) -> float:
        """The pause before reconnecting after `error`; raises when giving up."""
        self.check_deadline()
        if isinstance(error, APIStatusError) and error.status_code < 500 and error.status_code != 429:
            raise error
        self.failures += 1
        if self.failures > self.max_reconnects:
            if isinstance(error, APIStatusError | APIConnectionError):
                raise error
            raise APIConnectionError(f"the session stream keeps failing: {error}") from error
        return float(min(10.0, RECONNECT_DELAY * 2 ** (self.failures - 1)))


def follow(
    client: SyncStreamer,
    call: Call[Any],
    *,
    last_event_id: str | None = None,
    max_reconnects: int = 5,
    timeout: float | None = None,
) -> Iterator[SessionEvent]:
    progress = _Progress(last_event_id, max_reconnects, timeout)
    while True:
        received, final = 0, False
        progress.decoder.cut = False
        try:
            with client._open_stream(call, progress.decoder.last_event_id, progress.remaining()) as lines:
                for message in progress.decoder.decode(_until_deadline(lines, progress)):
                    event = progress.event(message.data)
                    received += 1
                    final = final or is_final(event)
                    yield event
        except (APIConnectionError, APIStatusError, httpx2.TransportError) as exc:
            time.sleep(progress.failed(exc))
            continue
        if not progress.decoder.cut and (final or received == 0):
            return


async def afollow(
    client: AsyncStreamer,
    call: Call[Any],
    *,
    last_event_id: str | None = None,
    max_reconnects: int = 5,
    timeout: float | None = None,
) -> AsyncIterator[SessionEvent]:
    progress = _Progress(last_event_id, max_reconnects, timeout)
    while True:
        received, final = 0, False
        progress.decoder.cut = False
        try:
            async with client._open_stream(call, progress.decoder.last_event_id, progress.remaining()) as lines:
                async for message in progress.decoder.adecode(_auntil_deadline(lines, progress)):
                    event = progress.event(message.data)
                    received += 1
                    final = final or is_final(event)
                    yield event
        except (APIConnectionError, APIStatusError, httpx2.TransportError) as exc:
            import asyncio  # not at import: a blocking client's program need not load it

            await asyncio.sleep(progress.failed(exc))
            continue
        if not progress.decoder.cut and (final or received == 0):
            return


def _until_deadline(lines: Iterator[str], progress: _Progress) -> Iterator[str]:
    for line in lines:
        progress.check_deadline()
        yield line


async def _auntil_deadline(lines: AsyncIterator[str], progress: _Progress) -> AsyncIterator[str]:
    async for line in lines:
        progress.check_deadline()
        yield line
