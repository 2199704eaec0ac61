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
    """Whether agent commands may use the network."""
    command_timeout: float = 600.0
    """Longest a single agent command may run, in seconds."""
    git_base_url: str = "https://github.com"
    """``owner/repo`` entries in ``repos`` are cloned from ``{git_base_url}/owner/repo``."""
    allow_local_repos: bool | None = None
    """Whether ``repos`` may name local paths; default: allowed in the embedded (SQLite) mode only."""
    inactivity_timeout: float = 3600.0
    """Seconds a session waits for the user before it is suspended (``suspended`` / ``inactivity``)."""
    max_steps: int = 200
    """Most model calls in one turn of the agent."""
    scheduler_enabled: bool = True
    scheduler_interval: float = 5.0
    runner_enabled: bool = True
    log_format: Literal["console", "json"] = "console"

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
