"""The procrastinate side: the app on the deployment's PostgreSQL, the wake-up task, the API's dispatcher."""

import contextlib
from collections.abc import Callable

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.engine import make_url

log = structlog.get_logger("codeyard.worker")

QUEUE = "codeyard-sessions"
WAKE = "codeyard.session_ready"


def conninfo(database_url: str) -> str:
    """The libpq connection string of a ``postgresql+psycopg://…`` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(database_url: str, on_ready: Callable[[str], None] | None = None) -> procrastinate.App:
    """A procrastinate app whose one task, in a worker, hands the session id to ``on_ready``."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))

    @app.task(name=WAKE, queue=QUEUE)
    async def session_ready(session_id: str) -> None:
        if on_ready is not None:
            on_ready(session_id)

    return app


class QueueDispatcher:
    """The ``Dispatcher`` of API replicas in the distributed mode: a runnable session is a deferred job.

    A missed deferral only delays the session (workers also poll the database), so errors are logged, not raised.
    """

    def __init__(self, database_url: str) -> None:
        self.app = build_app(database_url)
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
            with contextlib.suppress(AlreadyEnqueued):  # one wake-up per session is waiting already
                await self.app.configure_task(WAKE, queueing_lock=session_id).defer_async(session_id=session_id)
        except Exception:
            log.exception("could not defer the session's job; a worker's poll will find it", session_id=session_id)

    async def session_changed(self, session_id: str) -> None:
        return None  # workers see stops (terminate, archive) on their one-second watch of their sessions
