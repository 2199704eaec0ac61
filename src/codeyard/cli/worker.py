"""``codeyard worker``: run sessions for API replicas (``serve --no-runner``) on the same database.

The worker stack (procrastinate, the runner) is imported when the command runs, not when ``codeyard`` starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codeyard.cli.server import checked_settings, prepare

if TYPE_CHECKING:
    from codeyard.config import Settings


async def worker_async(settings: Settings) -> None:
    from codeyard.worker.process import run_worker

    db, services = await prepare(settings)
    try:
        await run_worker(settings, services)
    finally:
        await db.dispose()


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Sessions this worker runs at once (CODEYARD_MAX_CONCURRENT_SESSIONS)."),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory: workspaces (CODEYARD_DATA_DIR).")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL (CODEYARD_DATABASE_URL).")] = None,
) -> None:
    """Run sessions (distributed mode): woken through procrastinate on PostgreSQL; SIGTERM gives them back."""
    overrides = {
        k: v
        for k, v in {"max_concurrent_sessions": concurrency, "data_dir": data_dir, "database_url": database_url}.items()
        if v is not None
    }
    import asyncio  # not at the top: the client commands start without it

    from codeyard import logs

    settings = checked_settings(overrides)
    logs.configure(settings.log_format)
    asyncio.run(worker_async(settings))


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
