"""The agent's only way to persist and report: implemented by the runner over the database."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from codeyard.agent.model import Message, Usage


@dataclass(frozen=True)
class StepState:
    """What the agent must know after storing a step."""

    stop: str | None = None
    """Why it must stop now (terminated, archived, usage limit), or ``None``."""
    pending_messages: int = 0
    """User messages that arrived and are not in the history yet."""


@dataclass(frozen=True)
class AgentEvent:
    """Something worth showing in the session's events (contract §4 categories)."""

    event_type: str
    category: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


class Journal(Protocol):
    async def history(self) -> list[Message]:
        """The stored conversation (without the system prompt), oldest first."""
        ...

    async def record(
        self,
        messages: Sequence[Message],
        *,
        events: Sequence[AgentEvent] = (),
        say: str | None = None,
        usage: Usage | None = None,
    ) -> StepState:
        """Store one step atomically before the next starts; ``say`` becomes a devin message."""
        ...

    async def absorb_user_messages(self) -> list[Message]:
        """The user's messages not yet seen, now stored in the history (exactly once)."""
        ...

    async def check(self) -> StepState:
        """The same as ``record`` answers, without storing anything."""
        ...

    async def attach(self, name: str, data: bytes) -> str:
        """Store a file as a session attachment (``source: devin``); returns its download link."""
        ...

    async def set_structured_output(self, value: Any) -> None: ...
