"""The periodic check of open pull requests (contract §10): open → merged/closed, every
``CODEYARD_PR_REFRESH_SECONDS``. What was checked when lives in the database, so a restart loses nothing."""

import asyncio
import contextlib

import structlog

from codeyard.config import Settings
from codeyard.runner.forges import ForgeAuthError, ForgeError, forge_for
from codeyard.services.container import Services
from codeyard.storage.tables import PullRequestRow

log = structlog.get_logger("codeyard.runner")


class PullRequestRefresher:
    def __init__(self, settings: Settings, services: Services) -> None:
        self.interval = settings.pr_refresh_seconds
        self.services = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="codeyard-pr-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        pause = min(max(self.interval / 4, 0.2), 30.0)
        while True:
            try:
                await self.refresh_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad round must not end the refresher
                log.exception("pull request refresh failed")
            await asyncio.sleep(pause)

    async def refresh_due(self) -> int:
        """Ask the forge about each pull request due for a check; the number checked."""
        rows = await self.services.pull_requests.due(self.interval)
        for row in rows:
            await self.services.pull_requests.set_state(row.id, await self._state(row))
        return len(rows)

    async def _state(self, row: PullRequestRow) -> str | None:
        if row.connection_id is None or row.number is None:
            return None
        credentials = await self.services.git_connections.credentials(row.org_id, row.connection_id)
        scheme = (row.url or "https://").partition("://")[0]
        forge = forge_for(credentials, scheme) if credentials else None
        if forge is None:
            return None
        try:
            return await forge.state(row.project, row.number)
        except (ForgeAuthError, ForgeError) as exc:
            log.warning("pull request state unknown", pr=row.url, reason=str(exc))
            return None
