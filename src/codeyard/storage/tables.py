"""Tables. Every row has an integer ``pk`` (insertion order, used by cursors) and, where the API names it, a
public ``id`` string. Times are float epoch seconds (UTC); the API renders ints or ISO strings."""

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType, Any: JsonType}


class Meta(Base):
    """Installation-wide facts: the enterprise id, the bootstrap marker."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Organization(Base):
    __tablename__ = "organizations"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    max_cycle_acu_limit: Mapped[float | None] = mapped_column(Float)
    max_session_acu_limit: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    deleted_at: Mapped[float | None] = mapped_column(Float)


class ServiceUser(Base):
    __tablename__ = "service_users"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    org_id: Mapped[str | None] = mapped_column(String(64), index=True)
    """``None`` for an enterprise service user."""
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    deleted_at: Mapped[float | None] = mapped_column(Float)


class ApiKey(Base):
    __tablename__ = "api_keys"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    service_user_id: Mapped[str] = mapped_column(String(64), ForeignKey("service_users.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    digest: Mapped[str] = mapped_column(String(128), unique=True)
    """HMAC-SHA-256 of the token; the token itself is never stored."""
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)


class AgentSessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_org_pk", "org_id", "pk"),
        Index("ix_sessions_queue", "status", "claimed_by", "pk"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    status_detail: Mapped[str | None] = mapped_column(String(32))
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    playbook_id: Mapped[str | None] = mapped_column(String(64))
    knowledge_ids: Mapped[list[Any] | None] = mapped_column(JsonType)
    secret_ids: Mapped[list[Any] | None] = mapped_column(JsonType)
    session_secrets: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Encrypted JSON list of ``{key, value, sensitive}``."""
    max_acu_limit: Mapped[float | None] = mapped_column(Float)
    repos: Mapped[list[Any]] = mapped_column(default=list)
    structured_output_schema: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    structured_output: Mapped[Any | None] = mapped_column(JsonType)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Every create-request field as received (secrets removed), including the ones that do not apply here."""
    user_id: Mapped[str | None] = mapped_column(String(64))
    service_user_id: Mapped[str | None] = mapped_column(String(64))
    parent_session_id: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(32), default="api")
    category: Mapped[str | None] = mapped_column(String(64))
    subcategory: Mapped[str | None] = mapped_column(String(64))
    schedule_id: Mapped[str | None] = mapped_column(String(64), index=True)
    pull_requests: Mapped[list[Any]] = mapped_column(default=list)
    acus_consumed: Mapped[float] = mapped_column(Float, default=0.0)
    working_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    history_length: Mapped[int] = mapped_column(Integer, default=0)
    """Items in ``agent_history`` for this session: the next item's ``seq``."""
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[float | None] = mapped_column(Float)
    waiting_since: Mapped[float | None] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class SessionLabel(Base):
    """Searchable labels of a session (``kind`` is ``tag`` or ``repo``), so list filters stay in SQL."""

    __tablename__ = "session_labels"
    __table_args__ = (UniqueConstraint("session_id", "kind", "value"), Index("ix_session_labels_kv", "kind", "value"))
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id"))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(512))


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_session_pk", "session_id", "pk"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id"))
    source: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    consumed: Mapped[bool] = mapped_column(Boolean, default=False)
    """For user messages: whether the agent has taken it into its history."""
    created_at: Mapped[float] = mapped_column(Float)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_session_pk", "session_id", "pk"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What happened, for ``GET …/events`` and the streams (command, exit code, output excerpt, path, diff excerpt,
    status); redacted and cut before it is stored. ``pk`` orders events and is the streams' resume cursor."""
    created_at: Mapped[float] = mapped_column(Float)


class HistoryRow(Base):
    """One persisted item of the agent's model conversation (contract §5: every step stored before the next)."""

    __tablename__ = "agent_history"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    item: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[float] = mapped_column(Float)


class Attachment(Base):
    __tablename__ = "attachments"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    """A UUID (contract §3)."""
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class SessionAttachment(Base):
    __tablename__ = "session_attachments"
    __table_args__ = (UniqueConstraint("session_id", "attachment_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id"), index=True)
    attachment_id: Mapped[str] = mapped_column(String(64), ForeignKey("attachments.id"))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)


class KnowledgeFolder(Base):
    __tablename__ = "knowledge_folders"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    parent_folder_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class KnowledgeNote(Base):
    __tablename__ = "knowledge_notes"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(512))
    body: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(Text)
    folder_id: Mapped[str | None] = mapped_column(String(64))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pinned_repo: Mapped[str | None] = mapped_column(String(512))
    macro: Mapped[str | None] = mapped_column(String(128))
    access_type: Mapped[str] = mapped_column(String(16), default="org")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class Playbook(Base):
    __tablename__ = "playbooks"
    __table_args__ = (UniqueConstraint("org_id", "macro", name="uq_playbooks_org_macro"),)
    """Macros are unique in an org; NULL macros never collide (both SQLite and PostgreSQL treat NULLs as distinct)."""
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(512))
    body: Mapped[str] = mapped_column(Text)
    macro: Mapped[str | None] = mapped_column(String(128))
    access_type: Mapped[str] = mapped_column(String(16), default="org")
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class Secret(Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_secrets_org_key"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(256))
    secret_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    """Encrypted with the server's secret key; never returned."""
    is_sensitive: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)
    access_type: Mapped[str] = mapped_column(String(16), default="org")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_due", "enabled", "next_run_at"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(512))
    prompt: Mapped[str] = mapped_column(Text)
    agent: Mapped[str] = mapped_column(String(32), default="devin")
    schedule_type: Mapped[str] = mapped_column(String(16), default="recurring")
    frequency: Mapped[str | None] = mapped_column(String(256))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    scheduled_at: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_count: Mapped[int | None] = mapped_column(Integer)
    notify_on: Mapped[str] = mapped_column(String(16), default="failure")
    playbook_id: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    target_devin_id: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Accepted fields with no effect here (bypass_approval, platform, slack ids, create_as_user_id)."""
    created_by: Mapped[str | None] = mapped_column(String(64))
    last_edited_by: Mapped[str | None] = mapped_column(String(64))
    next_run_at: Mapped[float | None] = mapped_column(Float)
    due_count: Mapped[int] = mapped_column(Integer, default=0)
    """Due times reached so far; with ``interval_count`` N only every N-th one fires."""
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    """Due times missed during downtime and not fired."""
    last_executed_at: Mapped[float | None] = mapped_column(Float)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error_at: Mapped[float | None] = mapped_column(Float)
    last_error_message: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ScheduleRun(Base):
    """One row per schedule and due time: the unique key that makes firing exactly-once."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "due_at"), Index("ix_schedule_runs_outcome", "outcome", "pk"))
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[str] = mapped_column(String(64), ForeignKey("schedules.id"))
    due_at: Mapped[float] = mapped_column(Float)
    session_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)


class GitConnection(Base):
    """Credentials for one git host of an org (contract §10); the token is encrypted and never returned."""

    __tablename__ = "git_connections"
    __table_args__ = (UniqueConstraint("org_id", "host", name="uq_git_connections_org_host"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    host: Mapped[str] = mapped_column(String(255))
    """Lowercase ``host[:port]`` as it appears in a clone URL."""
    kind: Mapped[str] = mapped_column(String(16))
    api_url: Mapped[str | None] = mapped_column(String(1024))
    username: Mapped[str | None] = mapped_column(String(255))
    token: Mapped[bytes] = mapped_column(LargeBinary)
    """Encrypted with the server's secret key; never returned, logged or given to a sandbox."""
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class SessionRepo(Base):
    """One cloned ``repos`` entry of a session: where it lives in the workspace and the commit it started from."""

    __tablename__ = "session_repos"
    __table_args__ = (UniqueConstraint("session_id", "position"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    entry: Mapped[str] = mapped_column(Text)
    """The ``repos`` entry as given (a URL never carries credentials here)."""
    directory: Mapped[str] = mapped_column(String(255))
    base_sha: Mapped[str] = mapped_column(String(64))
    base_branch: Mapped[str | None] = mapped_column(String(255))


class PullRequestRow(Base):
    """A branch the runner pushed for a session and the pull request opened for it (contract §10)."""

    __tablename__ = "pull_requests"
    __table_args__ = (
        UniqueConstraint("session_id", "repo"),
        Index("ix_pull_requests_state_checked", "state", "checked_at"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(64))
    repo: Mapped[str] = mapped_column(Text)
    connection_id: Mapped[str | None] = mapped_column(String(64))
    project: Mapped[str] = mapped_column(String(512))
    branch: Mapped[str] = mapped_column(String(255))
    base: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    """``open``, ``merged`` or ``closed``; ``pushed`` for a branch with no forge behind it."""
    head_sha: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class AcuUsage(Base):
    """ACUs a session used on one day (days cut at 08:00 UTC), for consumption reports."""

    __tablename__ = "acu_usage"
    __table_args__ = (
        UniqueConstraint("session_id", "day", name="uq_acu_usage_session_day"),
        Index("ix_acu_usage_org_day", "org_id", "day"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(64))
    service_user_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[int] = mapped_column(Integer)
    acus: Mapped[float] = mapped_column(Float)


class SessionInsightRow(Base):
    """A session's generated analysis (``POST …/insights/generate``)."""

    __tablename__ = "session_insights"
    __table_args__ = (UniqueConstraint("session_id", name="uq_session_insights_session"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    """``generating``, ``done`` or ``failed``."""
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class OrgTag(Base):
    """A tag an enterprise admin allows in an organization; at most one is its default."""

    __tablename__ = "org_tags"
    __table_args__ = (UniqueConstraint("org_id", "tag", name="uq_org_tags_org_tag"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str] = mapped_column(String(256))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Webhook(Base):
    """A target that gets signed deliveries of an org's events (contract §10)."""

    __tablename__ = "webhooks"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[Any] | None] = mapped_column(JsonType)
    """The webhook types it wants; ``None`` means all of them."""
    description: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    """The ``whsec_…`` signing secret, encrypted with the server's secret key."""
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class WebhookMessage(Base):
    """The outbox: one row per webhook-worthy happening, written in the transaction that caused it.

    The deliverer fans each new row out to the org's matching webhooks (``dispatched_at`` set) as deliveries."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("ix_webhook_outbox_pending", "dispatched_at", "pk"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    """The Standard Webhooks message id (``webhook-id`` header), the same on every retry and every target."""
    org_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    """The delivery body ``{type, timestamp, data}``."""
    created_at: Mapped[float] = mapped_column(Float)
    dispatched_at: Mapped[float | None] = mapped_column(Float)


class WebhookDelivery(Base):
    """One message to one webhook: its attempts, the last answer, when it is tried next."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "message_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_id: Mapped[str] = mapped_column(String(64), ForeignKey("webhooks.id"))
    message_id: Mapped[str] = mapped_column(String(64), ForeignKey("webhook_outbox.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    """``pending`` (to be tried at ``next_attempt_at``), ``succeeded`` or ``failed`` (retries exhausted)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    lease_until: Mapped[float | None] = mapped_column(Float)
    """While a deliverer is sending it; another deliverer takes it over after this time."""
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[float | None] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    attempt_log: Mapped[list[Any] | None] = mapped_column(JsonType)
    """The last attempts, oldest first (at most ``services.webhooks.ATTEMPTS_KEPT``): ``{attempt, at, status_code,
    error, duration_ms}`` each."""
