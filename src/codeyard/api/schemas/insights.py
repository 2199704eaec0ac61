"""Session insights schemas (devin-api-reference §5.8; the generated SDK's ``SessionInsights``)."""

from typing import Any, Literal

from pydantic import BaseModel

from codeyard.api.schemas.sessions import SessionResponse


class SessionMetrics(BaseModel):
    """What the session did, computed from its stored history (a codeyard extension)."""

    num_devin_messages: int
    num_user_messages: int
    steps: int
    commands: int
    failed_commands: int
    files_changed: list[str]
    notes_used: int
    user_answers: int
    acus: float
    outcome: str
    pull_requests: int


class SessionInsightsResponse(SessionResponse):
    num_devin_messages: int
    num_user_messages: int
    session_size: Literal["xs", "s", "m", "l", "xl"]
    analysis: dict[str, Any] | None = None
    """``null`` until generated; then ``{summary, issues, action_items, classification?, timeline}``."""
    analysis_status: Literal["generating", "done", "failed"] | None = None
    metrics: SessionMetrics


class InsightsGenerateResponse(BaseModel):
    session_id: str
    status: Literal["started", "already_exists"]
