"""One ``codeyard worker`` process: procrastinate's worker running session jobs, and the runner around them."""

import asyncio
import contextlib
import signal

import structlog
from procrastinate.worker import Worker

from codeyard.config import Settings
from codeyard.runner.embedded import build_runner
from codeyard.services.container import Services
from codeyard.worker.queue import QUEUE, build_app
from codeyard.worker.runner import WorkerRunner

log = structlog.get_logger("codeyard.worker")


class WorkerFailedError(RuntimeError):
    """procrastinate's worker loop ended on its own (the database went away): the process exits non-zero."""


async def run_worker(settings: Settings, services: Services, stop: asyncio.Event | None = None) -> None:
    """Run sessions until SIGTERM/SIGINT (or ``stop``): then take no new job, let each running session finish its
    step in flight (at most ``worker_drain_timeout`` seconds), checkpoint it, give it back (a job is deferred for
    another worker) and return. A second SIGTERM/SIGINT cuts the running steps short."""
    if settings.is_sqlite:  # one machine: the embedded runner, claiming from the database
        await _run_embedded(settings, services, stop or asyncio.Event())
        return
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    runner = WorkerRunner(settings, services)
    services.set_dispatcher(runner)
    app = build_app(settings.resolved_database_url, runner.run_job)
    worker = Worker(
        app,
        queues=[QUEUE],
        name="codeyard-worker",
        concurrency=runner.slots,
        listen_notify=True,
        delete_jobs="always",
        install_signal_handlers=False,
        update_heartbeat_interval=settings.worker_heartbeat_interval,
        stalled_worker_timeout=settings.worker_stalled_after,
        fetch_job_polling_interval=settings.worker_poll_interval,
        abort_job_polling_interval=settings.worker_poll_interval,
        shutdown_graceful_timeout=settings.worker_drain_timeout,
    )
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            stop.set()
        else:
            log.info("second signal: cutting the running sessions short", runner_id=runner.runner_id)
            runner.cut_short()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    await app.open_async()
    jobs = asyncio.create_task(worker.run(), name="procrastinate-worker")  # type: ignore[no-untyped-call]
    stopped = asyncio.create_task(stop.wait(), name="worker-stop")
    try:
        while worker.worker_id is None and not jobs.done():  # registered at once; jobs wait for attach()
            await asyncio.sleep(0.01)
        if jobs.done():
            await jobs  # raises what stopped it
            raise WorkerFailedError("procrastinate's worker ended before it started")
        assert worker.worker_id is not None
        runner.attach(app, worker.worker_id)
        await runner.start()
        log.info("worker started", runner_id=runner.runner_id, concurrency=runner.slots, queue=QUEUE)
        await asyncio.wait({jobs, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            await jobs
            raise WorkerFailedError("procrastinate's worker ended on its own")
        log.info(
            "worker stopping: the running sessions end their step, then are given back",
            runner_id=runner.runner_id,
            running=len(runner.tasks),
            drain_timeout=settings.worker_drain_timeout,
        )
        runner.drain()
        worker.stop()  # type: ignore[no-untyped-call]
        await jobs
        log.info("worker stopped: its sessions were given back", runner_id=runner.runner_id)
    finally:
        stopped.cancel()
        if not jobs.done():
            jobs.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await jobs
        await runner.stop()
        await app.close_async()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _run_embedded(settings: Settings, services: Services, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = build_runner(settings, services)
    await runner.start()
    log.info("worker started", runner_id=runner.runner_id, concurrency=runner.slots, queue=None)
    try:
        await stop.wait()
    finally:
        log.info("worker stopping: giving its sessions back", runner_id=runner.runner_id)
        await runner.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
