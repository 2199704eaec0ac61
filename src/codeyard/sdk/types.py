"""Response models and request parameter types of the API (the SDK's own copies of the wire schemas).

Every model allows extra fields, so server extensions (for example a session's `queue_position`) survive a
round trip through the SDK and show up in `model_extra`. Timestamps are epoch seconds, except schedules,
whose timestamps are ISO-8601 strings parsed into aware datetimes.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, NotRequired, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class APIModel(BaseModel):
    """Base of every response model: unknown fields are kept, not dropped."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    """``defer_build``: each model's validator is built on first use, so importing the SDK (and starting the CLI)
    does not pay for every model up front."""

    def to_json_dict(self) -> dict[str, Any]:
        """The fields the server sent (and only those), as JSON-ready values."""
        return self.model_dump(mode="json", exclude_unset=True)


class Page(APIModel, Generic[T]):
    """One page of a list: pass `end_cursor` as `after` (or advance `offset` for schedules) for the next."""

    items: list[T]
    end_cursor: str | None = None
    has_next_page: bool = False
    total: int | None = None


class Principal(APIModel):
    """`GET /v3/self`: who the API key belongs to; `org_id` is None for an enterprise service user."""

    principal_type: str
    service_user_id: str | None = None
    service_user_name: str | None = None
    org_id: str | None = None


class Organization(APIModel):
    org_id: str
    name: str
    created_at: int | None = None
    updated_at: int | None = None
    max_cycle_acu_limit: float | None = None
    max_session_acu_limit: float | None = None


class PullRequest(APIModel):
    pr_url: str
    pr_state: str | None = None


class SessionResponse(APIModel):
    """A session. `status` is one of new, claimed, running, exit, error, suspended, resuming."""

    session_id: str
    url: str
    status: str
    tags: list[str]
    org_id: str
    created_at: int
    updated_at: int
    acus_consumed: float
    pull_requests: list[PullRequest]
    status_detail: str | None = None
    title: str | None = None
    user_id: str | None = None
    service_user_id: str | None = None
    playbook_id: str | None = None
    parent_session_id: str | None = None
    child_session_ids: list[str] | None = None
    is_archived: bool = False
    origin: str | None = None
    category: str | None = None
    subcategory: str | None = None
    structured_output: Any = None


class SessionMessage(APIModel):
    """A message of a session; `source` is "user" or "devin". The prompt is the first user message."""

    event_id: str
    source: str
    message: str
    created_at: int


class SessionEvent(APIModel):
    """Something that happened in a session; `direction` is "incoming" (user → agent) or "outgoing"."""

    event_id: str
    event_type: str
    category: str
    created_at: int
    direction: str | None = None
    summary: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    """What happened: command, exit_code, output; path, diff; message; status, status_detail (codeyard only)."""


class SessionAttachment(APIModel):
    """A file of a session; `url` is a signed link that downloads without the API key."""

    attachment_id: str
    name: str
    url: str
    source: str | None = None
    content_type: str | None = None


class Attachment(APIModel):
    """The result of an upload: pass `url` in `attachment_urls` to give the file to a session."""

    attachment_id: str
    name: str
    url: str


class KnowledgeNote(APIModel):
    note_id: str
    name: str
    body: str
    trigger: str
    folder_id: str | None = None
    folder_path: str | None = None
    is_enabled: bool = True
    pinned_repo: str | None = None
    access_type: str | None = None
    macro: str | None = None
    org_id: str | None = None
    created_at: int | None = None
    updated_at: int | None = None


class KnowledgeFolder(APIModel):
    folder_id: str
    name: str
    note_count: int = 0
    parent_folder_id: str | None = None
    path: str | None = None


class KnowledgeFolders(APIModel):
    folders: list[KnowledgeFolder]
    root_note_count: int = 0


class Playbook(APIModel):
    playbook_id: str
    title: str
    body: str
    macro: str | None = None
    access_type: str | None = None
    org_id: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    created_by: str | None = None
    updated_by: str | None = None


class Secret(APIModel):
    """A stored secret's metadata; the value is never returned."""

    secret_id: str
    key: str
    secret_type: str | None = None
    is_sensitive: bool = True
    note: str | None = None
    access_type: str | None = None
    created_at: int | None = None
    created_by: str | None = None


class Schedule(APIModel):
    """A recurring (cron) or one-time session schedule; timestamps are ISO-8601 on the wire."""

    scheduled_session_id: str
    prompt: str
    name: str | None = None
    schedule_id: str | None = None
    agent: str | None = None
    enabled: bool = True
    is_enabled: bool | None = None
    frequency: str | None = None
    cron_schedule: str | None = None
    timezone: str | None = None
    schedule_type: str | None = None
    scheduled_at: datetime | None = None
    next_run_at: datetime | None = None
    notify_on: str | None = None
    playbook_id: str | None = None
    playbook: dict[str, Any] | None = None
    tags: list[str] | None = None
    target_devin_id: str | None = None
    consecutive_failures: int = 0
    last_executed_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error_message: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SessionSecret(TypedDict):
    """A secret given to one session only; `sensitive` (default true) redacts it from stored output."""

    key: str
    value: str
    sensitive: NotRequired[bool]


class SessionFilters(TypedDict, total=False):
    """Filters of `GET /sessions` (None = no filter); timestamps are epoch seconds, sequences repeated keys."""

    category: str | None
    created_after: int | None
    created_before: int | None
    updated_after: int | None
    updated_before: int | None
    is_archived: bool | None
    origins: Sequence[str] | None
    playbook_id: str | None
    repo_names: Sequence[str] | None
    schedule_id: str | None
    service_user_ids: Sequence[str] | None
    session_ids: Sequence[str] | None
    tags: Sequence[str] | None
    user_ids: Sequence[str] | None


class EventFilters(TypedDict, total=False):
    """Filters of `GET /sessions/{id}/events`; `direction` is "incoming" or "outgoing"."""

    categories: Sequence[str] | None
    event_types: Sequence[str] | None
    direction: str | None
    created_after: int | None
    created_before: int | None


class ScheduleFields(TypedDict, total=False):
    """The schedule fields other than `prompt` (shared by create and update)."""

    name: str
    frequency: str
    timezone: str
    enabled: bool
    schedule_type: str
    scheduled_at: datetime | str | None
    interval_count: int | None
    notify_on: str
    agent: str
    playbook_id: str | None
    tags: Sequence[str] | None
    target_devin_id: str | None
    bypass_approval: bool | None
    create_as_user_id: str | None
    run_as_user_id: str | None
    platform: str | None
    slack_channel_id: str | None
    slack_team_id: str | None


class ScheduleUpdate(ScheduleFields, total=False):
    """Fields of `PATCH /schedules/{id}`: only the keys given are sent; None clears a nullable field."""

    prompt: str


class ScheduleCreate(ScheduleFields):
    """Fields of `POST /schedules`: `prompt` is required; `name` defaults to one derived from the prompt."""

    prompt: str


class ChangeCommit(APIModel):
    sha: str
    subject: str


class Diffstat(APIModel):
    files_changed: int
    insertions: int
    deletions: int


class RepoChanges(APIModel):
    """What a session changed in one repository: its commits since ``base_sha`` and whether work is uncommitted."""

    index: int
    repo: str
    directory: str
    base_sha: str
    head_sha: str
    commits: list[ChangeCommit]
    diffstat: Diffstat
    uncommitted: bool


class SessionChanges(APIModel):
    items: list[RepoChanges]
    total: int


class GitConnection(APIModel):
    """A git host the org's sessions clone from and push to; the token is write-only and never returned."""

    connection_id: str
    host: str
    kind: str
    api_url: str | None = None
    username: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    created_by: str | None = None


class Webhook(APIModel):
    """A target for signed deliveries of the org's events; `secret` is set only in the answer to create."""

    webhook_id: str
    url: str
    org_id: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    secret: str | None = None


class DeliveryAttempt(APIModel):
    attempt: int
    attempted_at: int
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None


class WebhookDelivery(APIModel):
    """One message to one webhook: its status, and its latest attempts (at most 10, oldest first)."""

    delivery_id: str
    webhook_id: str
    message_id: str
    event_type: str
    status: str
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: int | None = None
    next_attempt_at: int | None = None
    delivered_at: int | None = None
    created_at: int | None = None
    attempt_history: list[DeliveryAttempt] = Field(default_factory=list)
