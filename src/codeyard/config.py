"""Server settings: ``CODEYARD_*`` environment variables and ``serve`` flags (contract §1).

A ``Settings`` object is built once in an entry point (``serve``, ``worker``, ``admin``, tests) and passed
down; nothing reads the environment anywhere else. Imports nothing from codeyard.
"""

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A setting the server cannot start without is missing or unusable; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEYARD_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "codeyard")
    """Database file, attachments, workspaces and the generated secret key."""
    database_url: str | None = None
    """``sqlite+aiosqlite:///…`` (default: a file in the data dir) or ``postgresql+psycopg://…``."""
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    """Base of session ``url`` and attachment links; default ``http://{host}:{port}``."""

    model: str | None = None
    """``openai:<model>`` or ``anthropic:<model>``; unset means sessions fail with a clear message."""
    model_base_url: str | None = None
    model_api_key: str | None = None
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    anthropic_api_key: str | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    model_context_window: int = 128_000
    model_max_output_tokens: int = 4096
    model_stream: bool = False
    model_max_retries: int = 5
    model_timeout: float = 120.0

    max_concurrent_sessions: int = Field(default=4, ge=1)
    secret_key: str | None = None
    """Signs links and encrypts stored secrets; generated into the data dir (0600) at first start."""

    rate_limit: str = "600/minute"
    """Requests allowed per API key (``limits`` notation)."""
    auth_failure_limit: str = "30/minute"
    """Failed authentications allowed per client address."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest JSON request body accepted."""
    attachment_max_bytes: int = 100 * 1024 * 1024
    attachment_link_ttl: int = 3600
    """Lifetime in seconds of signed attachment links."""

    sandbox_backend: Literal["auto", "bwrap", "local"] = "auto"
    sandbox_network: bool = False
    """Whether agent commands may use the network: the public IPv4 internet only, through slirp4netns
    (loopback, link-local, private ranges and the host's own networks stay closed)."""
    command_timeout: float = 600.0
    """Longest a single agent command may run, in seconds."""
    sandbox_uid: int | None = Field(default=None, gt=0)
    """Host uid that bubblewrap runs commands as when the server runs as root; default: the
    ``codeyard-sandbox`` account if it exists, else 64999. Never 0, and not shared with another service."""
    sandbox_gid: int | None = Field(default=None, gt=0)
    """Host gid of those commands; default as for ``sandbox_uid``."""
    sandbox_memory_bytes: int = Field(default=4 * 1024**3, gt=0)
    """Memory of one command's processes together, page cache and ``/tmp`` included (memory cgroup)."""
    sandbox_cpus: float = Field(default=2.0, gt=0)
    """CPU time one command may use, in cores (cpu cgroup quota)."""
    sandbox_tmp_bytes: int = Field(default=512 * 1024**2, gt=0)
    """Size of a command's private ``/tmp`` (bubblewrap)."""
    workspace_max_bytes: int = Field(default=10 * 1024**3, gt=0)
    """Disk one session's workspace may hold; commands that grow it beyond are stopped with an error."""
    git_base_url: str = "https://github.com"
    """``owner/repo`` entries in ``repos`` are cloned from ``{git_base_url}/owner/repo``."""
    allow_local_repos: bool | None = None
    """Whether ``repos`` may name local paths; default: only in the embedded (SQLite) mode with one organization."""
    inactivity_timeout: float = 3600.0
    """Seconds a session waits for the user before it is suspended (``suspended`` / ``inactivity``)."""
    max_steps: int = 200
    """Most model calls in one turn of the agent."""
    scheduler_enabled: bool = True
    scheduler_interval: float = 5.0
    runner_enabled: bool = True
    log_format: Literal["console", "json"] = "console"
    clone_allow_private: bool = False
    """Whether server-side clones may reach loopback, private and link-local addresses (and plain http)."""
    clone_timeout: float = 600.0
    """Longest one clone of a ``repos`` entry may take, in seconds."""
    clone_max_bytes: int = Field(default=2 * 1024**3, ge=1)
    """Largest a clone may grow in the workspace (objects and checkout), in bytes."""
    bundle_max_bytes: int = Field(default=512 * 1024**2, ge=1)
    """Largest git bundle the server reads or writes (handoff and hand-back), in bytes."""
    workspace_retention_days: float = Field(default=7.0, ge=0)
    """Days a finished, failed or suspended session keeps its workspace; then it is deleted (0 keeps them)."""
    docs_enabled: bool = True
    """Whether ``/docs`` serves the interactive API documentation (its assets are served locally)."""
    knowledge_match_threshold: float = Field(default=0.5, ge=0, lt=1)
    """A knowledge note is given in full when the task covers more than this share of its trigger's (or name's)
    stemmed, BM25-weighted words; the other notes are listed in an index the agent can open."""
    knowledge_max_notes: int = Field(default=5, ge=0)
    """Most knowledge notes given in full at the start of a session (the best-ranked ones)."""
    max_reply_chars: int = Field(default=200_000, ge=1000)
    """Most characters of one model reply (its text, and each tool call's arguments) that are stored; the rest is
    cut with a marker, and a tool call whose arguments are longer is refused with an error the model can act on."""
    max_tool_output_chars: int = Field(default=100_000, ge=1000)
    """Most characters of one tool result that are stored and shown to the model; the middle is cut with a marker."""
    git_author: str = "codeyard <codeyard@localhost>"
    """The identity (``Name <email>``) the agent's commits are made with."""
    pr_refresh_seconds: float = Field(default=300.0, gt=0)
    """How often the state of each open pull request is asked from its forge."""
    webhooks_enabled: bool = True
    """Whether this process runs a webhook deliverer (any number of processes may)."""
    webhook_allow_private: bool = False
    """Whether webhooks may target loopback, private and link-local addresses (off: a webhook could probe the
    server's own network)."""
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds one webhook delivery attempt may take (connect, send, answer)."""
    webhook_retry_window: float = Field(default=86400.0, ge=0)
    """Seconds during which a failing webhook delivery is retried with exponential backoff (default 24 h)."""
    webhook_poll_interval: float = Field(default=0.1, gt=0, le=60)
    """Seconds between the webhook deliverer's looks at the outbox for messages written by other processes."""
    webhook_delivery_retention_days: float = Field(default=7.0, gt=0, le=3650)
    """Days a finished (succeeded or failed) webhook delivery stays listed, with its attempts, before it is deleted."""

    event_details_max_chars: int = Field(default=4000, ge=100, le=1_000_000)
    """Longest text (command output, diff, message) kept whole in an event's ``details``; longer text keeps its
    head and tail around a ``[… N characters cut …]`` marker."""
    stream_heartbeat: float = Field(default=15.0, gt=0)
    """Seconds between heartbeat comments on an idle live stream."""
    stream_poll_interval: float = Field(default=0.25, gt=0)
    """Seconds between the event feed's reads for events written by other processes while someone streams and no
    quicker signal works (PostgreSQL with its LISTEN connection down)."""
    stream_fallback_poll_interval: float = Field(default=2.0, gt=0)
    """Seconds between the event feed's fallback reads while a quicker signal of other processes' writes works
    (PostgreSQL: its LISTEN connection is up; SQLite: its ``data_version`` look). ``stream_poll_interval`` applies
    while it does not."""
    stream_check_interval: float = Field(default=0.025, gt=0, le=5)
    """SQLite: seconds between the event feed's looks at ``PRAGMA data_version`` (a cheap "did another connection
    commit?") while someone streams; the table is read only when it changed."""
    stream_queue_size: int = Field(default=1000, ge=1)
    """Events buffered for one stream client; a client that falls further behind is cut and resumes by replay."""
    stream_send_timeout: float = Field(default=30.0, gt=0)
    """Seconds a stream client may take to accept one write before it is cut."""
    access_log: bool = True
    """One line per HTTP request in the server log (method, path, status, milliseconds, request id)."""

    blob_url: str | None = None
    """Where files go (attachments, handoff bundles, workspace checkpoints): unset = the data dir; a directory;
    or ``s3://bucket/prefix`` for an S3-compatible store (with the ``CODEYARD_S3_*`` settings)."""
    s3_endpoint_url: str | None = None
    """The S3 API's URL for a store other than AWS (MinIO, R2, Ceph), e.g. ``http://minio:9000``."""
    s3_region: str | None = None
    """The bucket's region (AWS); default from ``AWS_REGION`` / ``AWS_DEFAULT_REGION``."""
    s3_access_key_id: str | None = None
    """Default: ``AWS_ACCESS_KEY_ID``."""
    s3_secret_access_key: str | None = None
    """Default: ``AWS_SECRET_ACCESS_KEY``."""
    checkpoint_interval: float = Field(default=60.0, gt=0)
    """Seconds between workspace checkpoints while the agent works (distributed mode: PostgreSQL)."""
    worker_heartbeat_interval: float = Field(default=2.0, gt=0, le=300)
    """Seconds between a ``codeyard worker``'s heartbeats (procrastinate's worker table), and between its looks for
    the stalled jobs of workers that stopped beating (distributed mode)."""
    worker_stalled_after: float = Field(default=8.0, gt=0, le=3600)
    """Seconds without a heartbeat after which a worker counts as dead: another worker retries its jobs and takes
    its sessions over at once (keep it a few heartbeat intervals long)."""
    worker_poll_interval: float = Field(default=1.0, gt=0, le=300)
    """Seconds between a worker's fallback looks at the database: sessions stopped elsewhere (a stop normally
    arrives through LISTEN/NOTIFY at once) and runnable sessions that have no job."""
    worker_drain_timeout: float = Field(default=60.0, ge=0, le=86400)
    """Seconds a worker told to stop (SIGTERM) waits for its sessions' current steps before it cuts them short."""

    @property
    def checkpoints_enabled(self) -> bool:
        """Workspaces are checkpointed to the blob store where a session can move between machines."""
        return not self.is_sqlite

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'codeyard.db'}"

    @property
    def resolved_model_api_key(self) -> str | None:
        """``CODEYARD_MODEL_API_KEY``, else the provider's usual variable (contract §1)."""
        if self.model_api_key:
            return self.model_api_key
        provider = (self.model or "").partition(":")[0]
        return {"openai": self.openai_api_key, "anthropic": self.anthropic_api_key}.get(provider)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def local_repos_allowed(self) -> bool:
        """The setting, else whether the database is SQLite; the runner also requires a single organization
        (``runner.session_run.local_repos_allowed``)."""
        return self.is_sqlite if self.allow_local_repos is None else self.allow_local_repos

    def ensure_secret_key(self) -> str:
        """The configured key, else the one generated into the data dir at first start (mode 0600).

        With PostgreSQL the processes of one deployment run on several machines and must share one key, so it
        is never generated there: a missing key is a ``SettingsError`` naming ``CODEYARD_SECRET_KEY``."""
        if self.secret_key:
            return self.secret_key
        if not self.is_sqlite:
            raise SettingsError(
                "CODEYARD_SECRET_KEY is required with PostgreSQL (CODEYARD_DATABASE_URL): give every process of "
                "the deployment the same long random value, e.g. from `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`"
            )
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret_key.{secrets.token_hex(8)}")
            tmp.touch(mode=0o600)
            tmp.write_text(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)  # atomic create-if-absent: two first starts agree on one key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        self.secret_key = path.read_text().strip()
        return self.secret_key
