"""The in-process runner of ``codeyard serve``: bounded concurrency, FIFO queue, leases, resume at start.

It is also the process's ``Dispatcher``: the API tells it when a session became runnable or was stopped,
and a poll of the database covers everything said in other processes.
"""

import asyncio
import contextlib
import functools
import os
import socket
import uuid
from collections.abc import Coroutine
from typing import Any

import structlog

from codeyard.agent.model import Model, ModelError
from codeyard.agent.providers.factory import ModelConfig, create_model
from codeyard.config import Settings
from codeyard.runner import retention
from codeyard.runner.session_run import SessionRun, local_repos_allowed
from codeyard.sandbox.bwrap import bwrap_problem
from codeyard.sandbox.cgroup import pid_alive
from codeyard.services.container import Services

log = structlog.get_logger("codeyard.runner")

LEASE = 20.0
"""Seconds a runner holds a session without renewing; a dead runner's sessions are taken over after it."""
POLL = 1.0


def model_config(settings: Settings) -> ModelConfig:
    return ModelConfig(
        spec=settings.model or "",
        base_url=settings.model_base_url,
        api_key=settings.resolved_model_api_key,
        context_window=settings.model_context_window,
        max_output_tokens=settings.model_max_output_tokens,
        stream=settings.model_stream,
        max_retries=settings.model_max_retries,
        request_timeout=settings.model_timeout,
    )


def sandbox_backend(configured: str) -> str:
    """Which sandbox the sessions of this runner get, in words for the start-up log line."""
    if configured == "local":
        return "local (plain subprocess, configured)"
    problem = bwrap_problem()
    if problem is None:
        return "bwrap (bubblewrap)"
    return f"local (plain subprocess: {problem})" if configured == "auto" else f"bwrap, which cannot start: {problem}"


def model_from_settings(settings: Settings) -> tuple[Model | None, str | None]:
    if not settings.model:
        return None, None
    try:
        return create_model(model_config(settings)), None
    except ModelError as exc:
        return None, f"I cannot start: the model settings are not usable. {exc}"


class EmbeddedRunner:
    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.slots = settings.max_concurrent_sessions
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.active: dict[str, SessionRun] = {}
        self._wake = asyncio.Event()
        self.poll = POLL
        """Seconds between looks at the database for work and for sessions stopped by other processes."""
        self._loops: list[asyncio.Task[None]] = []
        self.model, self.model_problem = model_from_settings(settings)

    # -- Dispatcher ----------------------------------------------------------------------------------------
    async def session_ready(self, session_id: str) -> None:
        self._wake.set()

    async def session_changed(self, session_id: str) -> None:
        task = self.tasks.get(session_id)
        if task is not None and session_id in await self.services.runs.stopped_sessions([session_id]):
            task.cancel()
        self._wake.set()

    def wake(self) -> None:
        """Look for runnable sessions now (a worker's queue said one is ready)."""
        self._wake.set()

    # -- Background ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        resumed = await self.services.runs.expire_dead_runners(socket.gethostname(), pid_alive)
        if resumed:
            log.info("resuming the sessions of runners that died on this host", runners=resumed)
        self._loops = [asyncio.create_task(loop, name=name) for name, loop in self._background().items()]
        if not await local_repos_allowed(self.settings, self.services):
            log.info(
                "local repositories are off: sessions clone remote URLs only",
                reason="set by CODEYARD_ALLOW_LOCAL_REPOS"
                if self.settings.allow_local_repos is not None
                else "more than one organization exists, or the database is not SQLite; "
                "CODEYARD_ALLOW_LOCAL_REPOS=true turns them on",
            )
        log.info(
            "runner started",
            runner_id=self.runner_id,
            slots=self.slots,
            model=self.settings.model or "(none configured)",
            sandbox=await asyncio.to_thread(sandbox_backend, self.settings.sandbox_backend),
        )

    def _background(self) -> dict[str, Coroutine[Any, Any, None]]:
        """The loops this runner keeps running while it is started, by task name."""
        return {"runner-claim": self._claim_loop(), "runner-watch": self._watch_loop()}

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self._loops, *self.tasks.values(), return_exceptions=True)
        await self.services.runs.release_runner(self.runner_id)
        if self.model is not None:
            await self.model.aclose()

    async def _claim_loop(self) -> None:
        while True:
            try:
                while len(self.tasks) < self.slots:
                    row = await self.services.runs.claim_next(self.runner_id, LEASE)
                    if row is None:
                        break
                    run = SessionRun(self.settings, self.services, self.model, self.model_problem, self.runner_id, row)
                    task = asyncio.create_task(run.run(), name=f"session-{row.id}")
                    self.tasks[row.id] = task
                    self.active[row.id] = run
                    task.add_done_callback(functools.partial(self._finished, row.id))
            except Exception:  # the database may be briefly unavailable: keep the runner alive
                log.exception("claiming failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    def _finished(self, session_id: str, _task: object = None) -> None:
        self.tasks.pop(session_id, None)
        self.active.pop(session_id, None)
        self._wake.set()

    async def _watch_loop(self) -> None:
        """Renew leases, stop sessions stopped elsewhere, count working time, suspend idle waits."""
        last_renew = 0.0
        last_sweep = 0.0
        last_stops = 0.0
        last_retention = -retention.SWEEP_INTERVAL
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.poll, LEASE / 4))  # leases are renewed in time whatever the poll
            try:
                running = list(self.tasks)
                now = loop.time()
                if now - last_stops >= self.poll * 0.99:
                    for sid in await self.services.runs.stopped_sessions(running):
                        if sid in self.tasks:
                            self.tasks[sid].cancel()
                    last_stops = now
                if now - last_renew >= LEASE / 4:
                    for sid in await self.services.runs.heartbeat(self.runner_id, running, LEASE):
                        if sid in self.tasks:
                            self.tasks[sid].cancel()
                    for run in list(self.active.values()):
                        await run.count_time()
                    last_renew = now
                if now - last_sweep >= 10:
                    await self.services.runs.sweep_inactive(self.settings.inactivity_timeout)
                    last_sweep = now
                if now - last_retention >= retention.SWEEP_INTERVAL:
                    last_retention = now
                    await retention.sweep_workspaces(
                        self.settings.data_dir / "workspaces",
                        self.services.runs,
                        self.settings.workspace_retention_days,
                        skip=set(self.tasks),
                    )
            except Exception:
                log.exception("runner watch failed")


def build_runner(settings: Settings, services: Services) -> EmbeddedRunner:
    runner = EmbeddedRunner(settings, services)
    services.set_dispatcher(runner)
    return runner
