"""``codeyard serve``: migrate, bootstrap on first start, then the API with the runner and the ticker."""

import asyncio
import json
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import structlog
import typer
import uvicorn

from codeyard import logs
from codeyard.api.app import Background, create_app
from codeyard.config import Settings, SettingsError
from codeyard.runner.embedded import build_runner
from codeyard.scheduler.ticker import build_ticker
from codeyard.services.container import Services
from codeyard.services.identity import Bootstrap
from codeyard.storage.db import Database, migrate
from codeyard.worker.queue import QueueDispatcher

log = structlog.get_logger("codeyard.serve")


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


async def prepare(settings: Settings) -> tuple[Database, Services]:
    """Schema up to date, secret key present, first-start bootstrap done."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(migrate, settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    services = Services(settings, db)
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
    parts: list[Background] = []
    if settings.runner_enabled:
        parts.append(build_runner(settings, services))
    elif not settings.is_sqlite:  # an API replica: runnable sessions become jobs for `codeyard worker`
        dispatcher = QueueDispatcher(settings.resolved_database_url)
        services.set_dispatcher(dispatcher)
        parts.append(dispatcher)
    if settings.scheduler_enabled:
        parts.append(build_ticker(settings, services))
    return parts


async def serve_async(settings: Settings) -> None:
    db, services = await prepare(settings)
    app = create_app(settings, services, background=background_parts(settings, services))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    log.info(
        "serving", url=settings.resolved_public_url, database=db.url.split("://")[0], data_dir=str(settings.data_dir)
    )
    _exit_cleanly_after_stop_signals()
    try:
        await server.serve()
    finally:
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
    if no_runner:
        overrides["runner_enabled"] = False
    settings = checked_settings(overrides)
    logs.configure(settings.log_format)
    asyncio.run(serve_async(settings))


def checked_settings(overrides: Mapping[str, object]) -> Settings:
    """The settings, refusing to start (status 2, the setting named) when a required one is missing."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    try:
        settings.ensure_secret_key()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return settings


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
