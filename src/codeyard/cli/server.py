"""``codeyard serve``: migrate, bootstrap on first start, then the API with the runner and the ticker.

The server stack (FastAPI, SQLAlchemy, the model SDKs) is imported inside the functions that need it, so that
the other commands of ``codeyard`` start without loading it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from codeyard.api.app import Background
    from codeyard.config import Settings
    from codeyard.services.container import Services
    from codeyard.services.identity import Bootstrap
    from codeyard.storage.db import Database


def _log() -> Any:
    import structlog  # with the server stack, not at import time

    return structlog.get_logger("codeyard.serve")


def write_bootstrap_files(settings: Settings, boot: Bootstrap) -> tuple[Path, Path]:
    """``bootstrap.json`` and ``bootstrap.env`` in the data dir, readable by the owner only (contract §2)."""
    data = {
        "api_url": settings.resolved_public_url,
        "org_id": boot.org_id,
        "org_api_key": boot.org_api_key,
        "enterprise_api_key": boot.enterprise_api_key,
    }
    json_path = settings.data_dir / "bootstrap.json"
    env_path = settings.data_dir / "bootstrap.env"
    env = (
        f"export DEVIN_API_URL={settings.resolved_public_url} "
        f"DEVIN_API_KEY={boot.org_api_key} DEVIN_ORG_ID={boot.org_id}\n"
    )
    for path, text in ((json_path, json.dumps(data, indent=2) + "\n"), (env_path, env)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        path.chmod(0o600)
    return json_path, env_path


PRIVATE_FILES = ("codeyard.db", "codeyard.db-wal", "codeyard.db-shm", "secret_key", "bootstrap.json", "bootstrap.env")


def secure_data_dir(data_dir: Path) -> None:
    """The data dir and what the server keeps in it are the server user's alone: directories 0700, files 0600
    (the database, keys, bootstrap files, attachments), also when an older version left them world-readable.
    Workspaces are not walked: their content belongs to the sessions."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in (data_dir, data_dir / "attachments", data_dir / "workspaces"):
        folder.mkdir(mode=0o700, exist_ok=True)
        if not folder.is_symlink():
            folder.chmod(0o700)
    for name in PRIVATE_FILES:
        _private(data_dir / name, 0o600)
    for parent, dirs, files in os.walk(data_dir / "attachments"):
        for name in dirs:
            _private(Path(parent) / name, 0o700)
        for name in files:
            _private(Path(parent) / name, 0o600)


def _private(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if not path.is_symlink():
            path.chmod(mode)


async def prepare(settings: Settings) -> tuple[Database, Services]:
    """Schema up to date, secret key present, first-start bootstrap done, the data dir private."""
    import asyncio

    from codeyard.runner.embedded import model_from_settings
    from codeyard.runner.insights import ModelSummarizer
    from codeyard.services.container import Services
    from codeyard.storage.db import Database, migrate

    secure_data_dir(settings.data_dir)
    await asyncio.to_thread(migrate, settings.resolved_database_url)
    secure_data_dir(settings.data_dir)  # the database file migrate may just have created
    db = Database(settings.resolved_database_url)
    services = Services(settings, db)
    model, problem = model_from_settings(settings)
    if model is not None:
        services.insights.summarizer = ModelSummarizer(model)
    elif problem:
        services.insights.missing_summarizer = problem
    boot = await services.identity.bootstrap()
    if boot is not None:
        json_path, env_path = write_bootstrap_files(settings, boot)
        typer.echo(
            "First start: created organization 'default' and two API keys (shown once; also saved to "
            f"{json_path}):\n"
            f"  org id:             {boot.org_id}\n"
            f"  org admin key:      {boot.org_api_key}\n"
            f"  enterprise key:     {boot.enterprise_api_key}\n"
            f"Use them with:  source {env_path}",
            err=True,
        )
    return db, services


def background_parts(settings: Settings, services: Services) -> list[Background]:
    """The runner and the schedule ticker of this process (each may be switched off by a setting)."""
    from codeyard.runner.embedded import build_runner
    from codeyard.runner.pr_refresher import PullRequestRefresher
    from codeyard.scheduler.ticker import build_ticker
    from codeyard.webhooks.deliverer import build_deliverer

    parts: list[Background] = []
    if settings.runner_enabled:
        parts.append(build_runner(settings, services))
        parts.append(PullRequestRefresher(settings, services))
    elif not settings.is_sqlite:  # an API replica: runnable sessions become jobs for `codeyard worker`
        from codeyard.worker.queue import QueueDispatcher

        dispatcher = QueueDispatcher(settings.resolved_database_url, services.runs)
        services.set_dispatcher(dispatcher)
        parts.append(dispatcher)
        parts.append(PullRequestRefresher(settings, services))  # the workers run sessions; replicas refresh PRs
    if settings.scheduler_enabled:
        parts.append(build_ticker(settings, services))
    if settings.webhooks_enabled:
        parts.append(build_deliverer(settings, services.webhooks))
    return parts


class StartError(Exception):
    """A condition that stops ``serve`` before it starts, told in one line (no traceback)."""


def check_data_dir(path: Path) -> None:
    """The data dir exists (or can be created) and this user can write in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise StartError(
            f"cannot write to the data directory {path} ({exc.strerror or exc}): make it writable by this user "
            f"(uid {os.geteuid()}), or choose another with --data-dir or CODEYARD_DATA_DIR"
        ) from None


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts (migrations, bootstrap, runner, ticker)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartError(
                f"port {port} on {host} is already in use (another codeyard serve?): stop that process, "
                "or choose another port with --port or CODEYARD_PORT"
            ) from None
        raise StartError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): check --host and --port") from None
    sock.set_inheritable(True)
    return sock


async def serve_async(settings: Settings) -> None:
    import uvicorn

    from codeyard.api.app import create_app

    os.umask(0o077)  # what the server creates (database journals, clones, bundles) is its user's alone
    check_data_dir(settings.data_dir)
    sock = bind(settings.host, settings.port)
    db, services = await prepare(settings)
    app = create_app(settings, services, background=background_parts(settings, services))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="httptools",
        access_log=False,  # ours, with the request id: CODEYARD_ACCESS_LOG
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    _log().info(
        "serving", url=settings.resolved_public_url, database=db.url.split("://")[0], data_dir=str(settings.data_dir)
    )
    if not settings.model:
        _log().warning(NO_MODEL_AT_START)
    _exit_cleanly_after_stop_signals()
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        await db.dispose()


def _exit_cleanly_after_stop_signals() -> None:
    """Make SIGTERM and SIGINT end ``serve`` with status 0 once uvicorn has shut down gracefully.

    uvicorn handles the signal, then restores the handler it found and raises the signal again; with the
    default handlers that kills the finished process (status -15 for SIGTERM, which service managers report as a
    failure). The no-op handlers installed here are the ones it restores, so ``serve`` simply returns.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (CODEYARD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (CODEYARD_PORT).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (CODEYARD_DATA_DIR).")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL (CODEYARD_DATABASE_URL).")] = None,
    no_runner: Annotated[
        bool, typer.Option("--no-runner", help="Run no sessions here: an API replica for `codeyard worker`s.")
    ] = False,
) -> None:
    """Run the API server with its session runner and schedule ticker (embedded mode: one process, SQLite)."""
    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "data_dir": data_dir, "database_url": database_url}.items()
        if v is not None
    }
    import asyncio  # here and below, not at the top: the client commands start without it

    from codeyard import logs

    if no_runner:
        overrides["runner_enabled"] = False
    settings = checked_settings(overrides)
    logs.configure(settings.log_format)
    check_model(settings)
    try:
        uvicorn_loop_setup()
        asyncio.run(serve_async(settings))
    except StartError as exc:
        typer.echo(f"codeyard serve: {exc}", err=True)
        raise typer.Exit(1) from None


def uvicorn_loop_setup() -> None:
    """uvloop as the event loop (pinned with httptools in the runtime dependencies), as uvicorn would set it."""
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


NO_MODEL_AT_START = (
    "no model is configured, so sessions will fail: set CODEYARD_MODEL (openai:<model> or anthropic:<model>), "
    "CODEYARD_MODEL_BASE_URL for a local or other compatible server (e.g. http://127.0.0.1:11434/v1 for Ollama) "
    "and CODEYARD_MODEL_API_KEY"
)


def check_model(settings: Settings) -> None:
    """Refuse to start with model settings that cannot work (one line, the valid forms). No model at all is a
    warning, logged once the server is up (``serve_async``), not a reason to stop."""
    from codeyard.agent.model import ModelConfigError
    from codeyard.agent.providers.factory import check_config
    from codeyard.runner.embedded import model_config

    if not settings.model:
        return
    try:
        check_config(model_config(settings))
    except ModelConfigError as exc:
        typer.echo(f"codeyard: {exc}", err=True)
        raise typer.Exit(2) from None


SERVE_EPILOG = "\n\n".join(
    [
        "Settings (environment variables; the flags above override the first ones):",
        "CODEYARD_MODEL: openai:<model> (any OpenAI-compatible Chat Completions server) or anthropic:<model>; "
        "unset, sessions end with an error saying so.",
        "CODEYARD_MODEL_BASE_URL: the model server, e.g. http://127.0.0.1:11434/v1 for Ollama "
        "(default: the provider's).",
        "CODEYARD_MODEL_API_KEY: the provider key (default OPENAI_API_KEY or ANTHROPIC_API_KEY).",
        "CODEYARD_MODEL_CONTEXT_WINDOW, CODEYARD_MODEL_MAX_OUTPUT_TOKENS, CODEYARD_MODEL_TIMEOUT, "
        "CODEYARD_MODEL_MAX_RETRIES: limits of the model calls.",
        "Also CODEYARD_DATA_DIR, CODEYARD_DATABASE_URL, CODEYARD_PUBLIC_URL, CODEYARD_MAX_CONCURRENT_SESSIONS, "
        "CODEYARD_SANDBOX_BACKEND, CODEYARD_SANDBOX_NETWORK, CODEYARD_SECRET_KEY: the README lists every setting.",
    ]
)


def checked_settings(overrides: Mapping[str, object]) -> Settings:
    """The settings, refusing to start (status 2, the setting named) when a required one is missing."""
    from codeyard.config import Settings, SettingsError

    settings = Settings(**overrides)  # type: ignore[arg-type]
    try:
        settings.ensure_secret_key()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return settings


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=SERVE_EPILOG)(serve)
