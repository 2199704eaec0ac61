"""One ``codeyard worker`` process: the session runner, and procrastinate's worker loop to wake it."""

import asyncio
import contextlib
import signal

import structlog

from codeyard.config import Settings
from codeyard.runner.embedded import build_runner
from codeyard.services.container import Services
from codeyard.worker.queue import QUEUE, build_app

log = structlog.get_logger("codeyard.worker")


async def run_worker(settings: Settings, services: Services, stop: asyncio.Event | None = None) -> None:
    """Run sessions until SIGTERM/SIGINT (or ``stop``): then stop taking work, end the running sessions' current
    step, give them back to be continued by another worker, and return."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = build_runner(settings, services)
    await runner.start()
    queue_task: asyncio.Task[None] | None = None
    app = None
    if not settings.is_sqlite:
        app = build_app(settings.resolved_database_url, lambda _sid: runner.wake())
        await app.open_async()
        queue_task = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE],
                concurrency=1,
                name=runner.runner_id,
                install_signal_handlers=False,
                delete_jobs="always",
                listen_notify=True,
            ),
            name="procrastinate-worker",
        )
    log.info("worker started", runner_id=runner.runner_id, concurrency=runner.slots, queue=app is not None)
    try:
        await stop.wait()
    finally:
        log.info("worker stopping: giving its sessions back", runner_id=runner.runner_id)
        if queue_task is not None:
            queue_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await queue_task
        await runner.stop()
        if app is not None:
            await app.close_async()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
