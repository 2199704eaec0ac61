"""A short parser of `text/event-stream` (the WHATWG server-sent events framing), fed line by line."""

from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None
    """The stream's last event id after this message (what to send as `Last-Event-ID` to resume)."""


class SSEDecoder:
    """Turns lines (without their line ends) into messages; comments (heartbeats) are skipped."""

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        """The id of the last complete message (a message cut by a dropped connection does not count)."""
        self._id = last_event_id
        self.cut = False
        """The server said it cut this connection because the client fell behind (a `: cut…` comment)."""
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerSentEvent | None:
        """The message that `line` completes (a blank line ends one), else `None`."""
        if not line:
            data, event = self._data, self._event
            self._data, self._event = [], ""
            self.last_event_id = self._id  # an id-only message moves it too
            if not data:
                return None
            return ServerSentEvent(event or "message", "\n".join(data), self.last_event_id)
        if line.startswith(":"):
            self.cut = self.cut or line.startswith((": cut", ":cut"))
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def decode(self, lines: Iterable[str]) -> Iterator[ServerSentEvent]:
        for line in lines:
            message = self.feed(line)
            if message is not None:
                yield message

    async def adecode(self, lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
        async for line in lines:
            message = self.feed(line)
            if message is not None:
                yield message
