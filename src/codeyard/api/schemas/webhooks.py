"""Webhook schemas (contract §10, our extension). The signing secret is shown once, in the create response."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from codeyard.api.schemas.common import Request

WebhookType = Literal[
    "session.created", "session.status_changed", "session.message", "session.pull_request", "schedule.fired"
]
TargetUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(max_length=1000)]


class WebhookCreate(Request):
    url: TargetUrl = Field(description="An http(s) URL; loopback and private addresses are refused by default.")
    event_types: list[WebhookType] | None = Field(default=None, description="Omitted or null: every type.")
    description: Description | None = None


class WebhookUpdate(Request):
    url: TargetUrl | None = None
    event_types: list[WebhookType] | None = None
    description: Description | None = None


class WebhookResponse(BaseModel):
    webhook_id: str
    org_id: str
    url: str
    event_types: list[str] | None = None
    description: str | None = None
    created_at: int
    updated_at: int
    secret: str | None = Field(
        default=None, description="The `whsec_…` signing secret: only in the response to create, never again."
    )


class DeliveryAttempt(BaseModel):
    attempt: int = Field(description="1 for the first attempt, counting on.")
    attempted_at: int
    status_code: int | None = Field(default=None, description="The target's answer; null when none came.")
    error: str | None = Field(default=None, description="Why the attempt failed (`HTTP 500`, `timed out`, …).")
    duration_ms: int | None = None


class DeliveryResponse(BaseModel):
    delivery_id: str
    webhook_id: str
    message_id: str = Field(description="The `webhook-id` header of every attempt.")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: int | None = None
    next_attempt_at: int | None = Field(default=None, description="While pending: when it is tried next.")
    delivered_at: int | None = None
    created_at: int
    attempt_history: list[DeliveryAttempt] = Field(
        default_factory=list, description="The latest attempts (at most 10), oldest first."
    )
