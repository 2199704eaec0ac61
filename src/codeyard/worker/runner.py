"""The session runner of a ``codeyard worker``: each session runs inside its procrastinate job.

The runner keeps what the embedded runner does around the runs (leases renewed, stops seen on the poll, working
time counted, idle waits suspended, old workspaces removed) but claims nothing on its own: a job claims its one
session. Beside that it looks every heartbeat interval for the jobs of workers that stopped beating and retries
them, so their sessions move at once; and every poll interval for runnable sessions that have no job.
"""

import asyncio
import os
import socket
from collections.abc import Coroutine
from typing import Any

import procrastinate
import structlog

from codeyard.config import Settings
from codeyard.runner.embedded import LEASE, EmbeddedRunner
from codeyard.runner.session_run import SessionRun
from codeyard.services.container import Services
from codeyard.worker import queue

log = structlog.get_logger("codeyard.worker")

SHUTTING_DOWN = "the worker is shutting down; another worker continues the session"


class WorkerRunner(EmbeddedRunner):
    def __init__(self, settings: Settings, services: Services) -> None:
        super().__init__(settings, services)
        self.poll = settings.worker_poll_interval
        self.app: procrastinate.App | None = None
        self.worker_id: int | None = None
        self.draining: str | None = None
        """Set when the worker was told to stop: running sessions end their step, then are given back."""
        self._attached = asyncio.Event()
        self._missing: set[str] = set()
        """Runnable sessions without a job at the last look."""

    def attach(self, app: procrastinate.App, worker_id: int) -> None:
        """The procrastinate worker registered: this runner's id names it, so others can tell whether it lives."""
        self.app = app
        self.worker_id = worker_id
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{queue.WORKER_PREFIX}{worker_id}"
        self._attached.set()

    # -- Dispatcher (calls made in this process) -------------------------------------------------------
    async def session_ready(self, session_id: str) -> None:
        if self.app is not None:
            await queue.defer(self.app, session_id)

    async def session_changed(self, session_id: str) -> None:
        task = self.tasks.get(session_id)
        if task is not None and session_id in await self.services.runs.stopped_sessions([session_id]):
            task.cancel()

    # -- the job -------------------------------------------------------------------------------------
    async def run_job(self, session_id: str) -> None:
        """Run the session until it rests (or is stopped, or this worker stops); nothing if another runner holds
        it or it is at rest. A session still runnable after its turn (a message came meanwhile) runs again."""
        await self._attached.wait()
        ran = False
        while self.draining is None:
            dead = None
            row = await self.services.runs.claim_session(session_id, self.runner_id, LEASE)
            if row is None:  # at rest, or held: by a live runner, or by a dead one to take it from
                holder = await self.services.runs.holder(session_id)
                if holder is not None and not await self._alive(holder):
                    dead = holder
                    row = await self.services.runs.claim_session(session_id, self.runner_id, LEASE, take_over=dead)
            if row is None:
                if ran and self.app is not None:
                    await queue.reorder(self.app, ending=session_id)  # one fewer running in its org
                return
            if dead is not None:
                log.info("took over a session from a dead worker", session_id=session_id, previous=dead)
            ran = True
            run = SessionRun(self.settings, self.services, self.model, self.model_problem, self.runner_id, row)
            run.interrupt = self.draining
            task = asyncio.create_task(run.run(), name=f"session-{session_id}")
            self.tasks[session_id] = task
            self.active[session_id] = run
            try:
                await asyncio.wait({task})  # not cancelled with the job: the job cancels it and waits below
            except asyncio.CancelledError:  # an abort (a stop) or the end of the shutdown's patience
                task.cancel()
                await asyncio.wait({task})
                if self.draining is not None:
                    await asyncio.shield(self._give_back(session_id))
                raise
            finally:
                self.tasks.pop(session_id, None)
                self.active.pop(session_id, None)
        if ran:
            await self._give_back(session_id)

    async def _give_back(self, session_id: str) -> None:
        """This worker is stopping: a job for the session, which another worker takes (if it is still runnable)."""
        if self.app is not None:
            try:
                await queue.defer(self.app, session_id)
            except Exception:
                log.exception("could not defer the session's job; a worker's poll will find it", session_id=session_id)

    async def _alive(self, runner_id: str) -> bool:
        """Whether the runner holding a session still lives: for a worker, its procrastinate heartbeat; other
        runners (an embedded ``serve``) count as alive (their lease decides)."""
        worker_id = queue.worker_id_of(runner_id)
        if worker_id is None or self.app is None or runner_id == self.runner_id:
            return True
        return await queue.worker_alive(self.app, worker_id, self.settings.worker_stalled_after)

    # -- shutting down -------------------------------------------------------------------------------
    def drain(self, reason: str = SHUTTING_DOWN) -> None:
        """Stop after the step in flight: each running agent ends its current step, then gives its session back."""
        self.draining = reason
        for run in self.active.values():
            run.interrupt = reason

    def cut_short(self) -> None:
        """Stop the running sessions now (their commands are killed; the workspace is still checkpointed)."""
        if self.draining is None:
            self.drain()
        for task in list(self.tasks.values()):
            task.cancel()

    # -- background ----------------------------------------------------------------------------------
    def _background(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"runner-watch": self._watch_loop(), "worker-queue": self._queue_loop()}

    async def _queue_loop(self) -> None:
        """Retry dead workers' jobs (every heartbeat interval), defer jobs for job-less runnable sessions (every
        poll interval), and keep this worker's heartbeat while it drains (procrastinate stops it then)."""
        loop = asyncio.get_running_loop()
        last_poll = 0.0
        while True:
            await asyncio.sleep(self.settings.worker_heartbeat_interval)
            if self.app is None:
                continue
            try:
                if self.draining is not None:
                    if self.worker_id is not None:
                        await self.app.job_manager.update_heartbeat(self.worker_id)
                    continue
                await queue.retry_stalled(self.app, self.settings.worker_stalled_after)
                now = loop.time()
                if now - last_poll >= self.poll * 0.99:
                    last_poll = now
                    # only those seen without a job on two looks: not the ones whose API replica is deferring now
                    missing = set(await queue.without_jobs(self.app, await self.services.runs.runnable()))
                    due, self._missing = missing & self._missing, missing - self._missing
                    for sid in due:
                        await queue.defer(self.app, sid)
                    if due:
                        log.info("deferred jobs for runnable sessions that had none", sessions=sorted(due))
            except Exception:
                log.exception("worker queue upkeep failed")
