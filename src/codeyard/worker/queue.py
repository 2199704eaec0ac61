"""The procrastinate side: the app on the deployment's PostgreSQL, the session task, the API's dispatcher.

A runnable session is one job of the task ``codeyard.run_session`` on the queue ``codeyard-sessions``, deferred
with the session id as its queueing lock (at most one job waits per session) and as its lock (jobs of one session
never run at the same time, so one live job per session). A worker runs the job until the session reaches a rest
point. A stop is procrastinate's job abort: a NOTIFY that makes the worker cancel the job at once.
"""

import contextlib
from collections.abc import Awaitable, Callable, Iterable

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException, UniqueViolation
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url

from codeyard.domain.queue import fair_order
from codeyard.services.runs import Runs

log = structlog.get_logger("codeyard.worker")

QUEUE = "codeyard-sessions"
RUN = "codeyard.run_session"
WORKER_PREFIX = "pw"
"""A worker's runner id ends in ``pw<procrastinate worker id>``: whether it is alive is its heartbeat's age."""


def conninfo(database_url: str) -> str:
    """The libpq connection string of a ``postgresql+psycopg://…`` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(database_url: str, run: Callable[[str], Awaitable[None]] | None = None) -> procrastinate.App:
    """A procrastinate app whose one task, in a worker, runs the session through ``run``."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))

    @app.task(name=RUN, queue=QUEUE)
    async def run_session(session_id: str) -> None:
        if run is not None:
            await run(session_id)

    return app


async def defer(app: procrastinate.App, session_id: str) -> None:
    """Make sure a job for the session waits (or runs): the queueing lock keeps it to one waiting job.

    A new job starts last (``LAST``) and takes its place in the fair order at once (``reorder``)."""
    try:
        await app.configure_task(RUN, queueing_lock=session_id, lock=session_id, priority=LAST).defer_async(
            session_id=session_id
        )
    except AlreadyEnqueued:
        return
    await reorder(app)


LAST = -(2**31) + 1
"""The priority of a job just deferred, until ``reorder`` gives it its place (priorities are ``integer``)."""

_WAITING = """
SELECT j.id, j.priority, s.id AS session_id, s.org_id
FROM procrastinate_jobs j JOIN sessions s ON s.id = j.lock
WHERE j.queue_name = %(queue)s AND j.status = 'todo'
ORDER BY j.id
"""
_RUNNING = """
SELECT s.org_id, count(*) AS n
FROM procrastinate_jobs j JOIN sessions s ON s.id = j.lock
WHERE j.queue_name = %(queue)s AND j.status = 'doing' AND j.lock <> %(ending)s
GROUP BY s.org_id
"""
_PRIORITIES = """
UPDATE procrastinate_jobs j SET priority = v.priority
FROM (SELECT unnest(%(ids)s::bigint[]) AS id, unnest(%(priorities)s::integer[]) AS priority) v
WHERE j.id = v.id AND j.status = 'todo'
"""


async def reorder(app: procrastinate.App, *, ending: str = "") -> None:
    """Make procrastinate take the waiting session jobs in the runner's fair order (``domain.queue.fair_order``:
    round robin across organizations, fewest running first), the order the embedded runner claims in.

    procrastinate takes the job of highest priority first (then the oldest), and a priority is fixed when the job
    is deferred, while the fair order changes as sessions come, start and end: it is checked on each deferral and
    at the end of each job (``ending``: the session whose job is ending, no longer counted as running). Only when
    procrastinate's order differs from it are the priorities written, ``-rank``; in the common case (one org
    waiting, or a job taken from the front) nothing is written, so no worker's fetch finds the rows locked by the
    update. Two processes writing at once each write an order that was right a moment ago. A failure is logged:
    the jobs keep the order they had."""
    try:
        waiting = await app.connector.execute_query_all_async(_WAITING, queue=QUEUE)
        if len(waiting) < 2:
            return
        if len({row["org_id"] for row in waiting}) == 1:  # one org: the fair order is the order of arrival
            running = []
        else:
            running = await app.connector.execute_query_all_async(_RUNNING, queue=QUEUE, ending=ending)
        fair = fair_order(
            [(str(row["session_id"]), str(row["org_id"])) for row in waiting],
            {str(row["org_id"]): int(row["n"]) for row in running},
        )
        taken = [str(row["session_id"]) for row in sorted(waiting, key=lambda row: (-row["priority"], row["id"]))]
        if taken == fair:
            return
        priority = {session_id: -rank for rank, session_id in enumerate(fair)}
        changed = [
            (row["id"], priority[str(row["session_id"])])
            for row in waiting
            if row["priority"] != priority[str(row["session_id"])]
        ]
        await app.connector.execute_query_async(
            _PRIORITIES, ids=[job_id for job_id, _ in changed], priorities=[value for _, value in changed]
        )
    except ConnectorException as exc:
        log.warning("could not write the fair order of the waiting jobs", error=str(exc.__cause__ or exc)[:200])


async def abort(app: procrastinate.App, session_id: str) -> int:
    """Ask the worker running the session's job to cancel it (a NOTIFY: at once); the jobs asked."""
    asked = 0
    for job in await app.job_manager.list_jobs_async(queue=QUEUE, status=Status.DOING.value, lock=session_id):
        if job.id is not None and await app.job_manager.cancel_job_by_id_async(job.id, abort=True):
            asked += 1
    return asked


async def sessions_with_jobs(app: procrastinate.App) -> set[str]:
    """The sessions with a job waiting or running."""
    rows = await app.connector.execute_query_all_async(
        "SELECT DISTINCT lock FROM procrastinate_jobs WHERE queue_name = %(queue)s AND status IN ('todo', 'doing')",
        queue=QUEUE,
    )
    return {str(row["lock"]) for row in rows if row["lock"] is not None}


def worker_id_of(runner_id: str) -> int | None:
    """The procrastinate worker id in a worker's runner id (``host:pid:pw<id>``); ``None`` for other runners."""
    last = runner_id.rsplit(":", 1)[-1]
    digits = last.removeprefix(WORKER_PREFIX)
    return int(digits) if last.startswith(WORKER_PREFIX) and digits.isdigit() else None


async def worker_alive(app: procrastinate.App, worker_id: int, stalled_after: float) -> bool:
    """Whether that worker is registered and beat within ``stalled_after`` seconds."""
    row = await app.connector.execute_query_one_async(
        "SELECT count(*) AS n FROM procrastinate_workers WHERE id = %(id)s "
        "AND last_heartbeat >= now() - make_interval(secs => %(secs)s)",
        id=worker_id,
        secs=stalled_after,
    )
    return bool(row and row["n"])


async def retry_stalled(app: procrastinate.App, stalled_after: float) -> list[str]:
    """Put back the session jobs of workers that stopped beating; the sessions whose job was retried."""
    retried: list[str] = []
    for job in await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after):
        session_id = str(job.task_kwargs.get("session_id", ""))
        try:
            await app.job_manager.retry_job(job)
        except UniqueViolation:
            # A job already waits for the session (its queueing lock): this one is only in the way of that one.
            with contextlib.suppress(ConnectorException):
                await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=True)
            continue
        except ConnectorException as exc:
            # Another worker retried it first (it is no longer "doing"), or the database is briefly away: the
            # job is left as it is and looked at again next round.
            log.info("a stalled job was not retried", session_id=session_id, error=str(exc.__cause__ or exc)[:200])
            continue
        retried.append(session_id)
    if retried:
        log.info("retried the jobs of a dead worker", sessions=retried)
        await reorder(app)
    return retried


async def without_jobs(app: procrastinate.App, runnable: Iterable[str]) -> list[str]:
    """Those of the runnable sessions that have no job waiting or running (a deferral was missed, or is on its way)."""
    have = await sessions_with_jobs(app)
    return [sid for sid in runnable if sid not in have]


class QueueDispatcher:
    """The ``Dispatcher`` of API replicas in the distributed mode: a runnable session is a deferred job, a stop is
    the abort of its running job.

    A missed deferral or abort only delays the session (workers also poll the database), so errors are logged,
    not raised.
    """

    def __init__(self, database_url: str, runs: Runs | None = None) -> None:
        self.app = build_app(database_url)
        self.runs = runs
        self._open = False

    async def start(self) -> None:
        await self.app.open_async()
        self._open = True

    async def stop(self) -> None:
        if self._open:
            await self.app.close_async()
            self._open = False

    async def session_ready(self, session_id: str) -> None:
        if not self._open:
            return
        try:
            await defer(self.app, session_id)
        except Exception:
            log.exception("could not defer the session's job; a worker's poll will find it", session_id=session_id)

    async def session_changed(self, session_id: str) -> None:
        """A stop aborts the session's running job; a message to a session at rest defers a job."""
        if not self._open:
            return
        try:
            if self.runs is not None and session_id in await self.runs.stopped_sessions([session_id]):
                await abort(self.app, session_id)
            else:
                await defer(self.app, session_id)  # the job runs it if it became runnable, else ends at once
        except Exception:
            log.exception("could not reach the session's worker; its poll will", session_id=session_id)
