"""The seam between the API and whatever runs sessions (the in-process runner, or procrastinate workers).

Services call it after a commit; the state it refers to is already in the database, so a dispatcher
that misses a call (a crash, another process) only delays work: runners also poll the database.
"""

from typing import Protocol


class Dispatcher(Protocol):
    async def session_ready(self, session_id: str) -> None:
        """A session became runnable (``new`` or ``resuming``)."""

    async def session_changed(self, session_id: str) -> None:
        """A running session got a message, or was terminated or archived."""


class PollingDispatcher:
    """For processes that run no sessions themselves (API-only replicas): the runners poll the database."""

    async def session_ready(self, session_id: str) -> None:
        return None

    async def session_changed(self, session_id: str) -> None:
        return None
