"""The session lifecycle of contract §4 as a pure state machine.

The API and the runner never assign ``status`` / ``status_detail`` directly: they ask this module for
the next state, which refuses transitions the contract does not allow. ::

    new ──claim──▶ claimed ──start──▶ running/working ◀──reply── running/waiting_for_user
                                         │    ▲ └──ask_user──────────▲        │
                                         │    └────── resume ── resuming      │ inactivity
                               finish ───┤                 ▲                  ▼
                                         ▼                 │ message    suspended/inactivity
                                   exit/finished ──────────┘         suspended/usage_limit_exceeded
    any live state ──terminate──▶ exit/user_request (final)     any live state ──fail──▶ error/error
"""

from dataclasses import dataclass, replace
from enum import StrEnum


class SessionStatus(StrEnum):
    NEW = "new"
    CLAIMED = "claimed"
    RUNNING = "running"
    EXIT = "exit"
    ERROR = "error"
    SUSPENDED = "suspended"
    RESUMING = "resuming"


class StatusDetail(StrEnum):
    WORKING = "working"
    WAITING_FOR_USER = "waiting_for_user"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    FINISHED = "finished"
    INACTIVITY = "inactivity"
    USER_REQUEST = "user_request"
    USAGE_LIMIT_EXCEEDED = "usage_limit_exceeded"
    ERROR = "error"


class TransitionError(Exception):
    """A transition the lifecycle forbids; services translate it to ``InvalidTransitionError``."""


S = SessionStatus
D = StatusDetail

#: States a runner should be executing or is about to execute.
RUNNABLE = frozenset({S.NEW, S.RESUMING})
#: States that hold a runner slot.
ACTIVE = frozenset({S.CLAIMED, S.RUNNING})


@dataclass(frozen=True)
class SessionState:
    status: SessionStatus
    detail: StatusDetail | None = None
    is_archived: bool = False

    @property
    def terminated(self) -> bool:
        return self.status == S.EXIT and self.detail == D.USER_REQUEST

    @property
    def accepts_messages(self) -> bool:
        return not (self.terminated or self.is_archived)

    # -- runner-driven transitions -------------------------------------------------------------------
    def claim(self) -> "SessionState":
        """A runner took the session: ``new`` → ``claimed``; ``resuming`` stays ``resuming`` while it prepares."""
        self._require(self.status in RUNNABLE, "claim")
        return replace(self, status=S.CLAIMED if self.status == S.NEW else S.RESUMING, detail=None)

    def start(self) -> "SessionState":
        self._require(self.status in (S.CLAIMED, S.RESUMING), "start")
        return replace(self, status=S.RUNNING, detail=D.WORKING)

    def ask_user(self) -> "SessionState":
        self._require(self.status == S.RUNNING, "wait for the user")
        return replace(self, detail=D.WAITING_FOR_USER)

    def finish(self) -> "SessionState":
        self._require(self.status == S.RUNNING, "finish")
        return replace(self, status=S.EXIT, detail=D.FINISHED)

    def suspend_inactive(self) -> "SessionState":
        self._require(self.status == S.RUNNING and self.detail == D.WAITING_FOR_USER, "suspend for inactivity")
        return replace(self, status=S.SUSPENDED, detail=D.INACTIVITY)

    def suspend_usage(self) -> "SessionState":
        self._require(self.status in (S.CLAIMED, S.RUNNING, S.RESUMING), "suspend at the usage limit")
        return replace(self, status=S.SUSPENDED, detail=D.USAGE_LIMIT_EXCEEDED)

    def fail(self) -> "SessionState":
        self._require(not self.terminated and self.status != S.ERROR, "fail")
        return replace(self, status=S.ERROR, detail=D.ERROR)

    def requeue(self) -> "SessionState":
        """A runner died or gave the session back: run it again from its stored history."""
        self._require(self.status in (S.CLAIMED, S.RUNNING, S.RESUMING), "requeue")
        return replace(self, status=S.NEW if self.status == S.CLAIMED else S.RESUMING, detail=None)

    # -- user-driven transitions ---------------------------------------------------------------------
    def receive_message(self) -> "SessionState":
        """A user message: wakes a waiting agent and re-opens finished, suspended or failed sessions."""
        if self.terminated:
            raise TransitionError("the session was terminated and cannot receive messages")
        if self.is_archived:
            raise TransitionError("the session is archived and cannot receive messages")
        if self.status == S.RUNNING:
            return replace(self, detail=D.WORKING)
        if self.status in (S.EXIT, S.SUSPENDED, S.ERROR):
            return replace(self, status=S.RESUMING, detail=None)
        return self  # new, claimed, resuming: the message waits in the transcript for the agent

    def terminate(self) -> "SessionState":
        """``DELETE``: final; terminating twice is a no-op."""
        return replace(self, status=S.EXIT, detail=D.USER_REQUEST)

    def archive(self) -> "SessionState":
        """Archive; a session that is queued or running is put to sleep (``suspended`` / ``user_request``)."""
        if self.status in (S.NEW, S.CLAIMED, S.RUNNING, S.RESUMING):
            return replace(self, status=S.SUSPENDED, detail=D.USER_REQUEST, is_archived=True)
        return replace(self, is_archived=True)

    def _require(self, allowed: bool, action: str) -> None:
        if not allowed:
            shown = self.status.value + (f"/{self.detail.value}" if self.detail else "")
            raise TransitionError(f"cannot {action} a session that is {shown}")
