"""All services of one process, built once from the settings and a database."""

import asyncio

from codeyard.config import Settings
from codeyard.services.attachments import Attachments
from codeyard.services.changes import Changes
from codeyard.services.clock import Clock, system_clock
from codeyard.services.consumption import Consumption
from codeyard.services.crypto import Vault
from codeyard.services.dispatch import Dispatcher, PollingDispatcher
from codeyard.services.event_search import EventSearch
from codeyard.services.feed import EventFeed
from codeyard.services.git_connections import GitConnections
from codeyard.services.identity import Identity
from codeyard.services.insights import Insights
from codeyard.services.knowledge import Knowledge
from codeyard.services.metrics import Metrics
from codeyard.services.org_tags import OrgTags
from codeyard.services.playbooks import Playbooks
from codeyard.services.pull_requests import PullRequests
from codeyard.services.runs import Runs
from codeyard.services.schedule_runs import ScheduleRuns
from codeyard.services.schedules import Schedules
from codeyard.services.secrets import Secrets
from codeyard.services.sessions import Sessions
from codeyard.services.webhooks import Webhooks
from codeyard.storage.blobs import BlobStore, open_blob_store
from codeyard.storage.db import Database


class Services:
    def __init__(
        self, settings: Settings, db: Database, dispatcher: Dispatcher | None = None, clock: Clock = system_clock
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.vault = Vault(settings.ensure_secret_key())
        self.dispatcher: Dispatcher = dispatcher or PollingDispatcher()
        self.identity = Identity(db, clock)
        self.blobs: BlobStore = open_blob_store(settings)
        self.attachments = Attachments(
            db,
            self.vault,
            self.blobs,
            settings.data_dir,
            settings.resolved_public_url,
            max_bytes=settings.attachment_max_bytes,
            link_ttl=settings.attachment_link_ttl,
            clock=clock,
        )
        self.sessions = Sessions(db, self.vault, self.attachments, self.dispatcher, clock)
        self.knowledge = Knowledge(db, clock)
        self.playbooks = Playbooks(db, clock)
        self.secrets = Secrets(db, self.vault, clock)
        self.schedules = Schedules(db, self.sessions, clock)
        self.schedule_runs = ScheduleRuns(db, self.sessions, clock)
        self.runs = Runs(db, self.vault, self.attachments, clock)
        self.git_connections = GitConnections(db, self.vault, clock)
        self.pull_requests = PullRequests(db, clock)
        self.changes = Changes(
            db, self.pull_requests, settings.data_dir, self.blobs if settings.checkpoints_enabled else None
        )
        self.consumption = Consumption(db, clock)
        self.insights = Insights(db, clock)
        self.org_tags = OrgTags(db)
        self.metrics = Metrics(db)
        self.event_search = EventSearch(db)
        self.webhooks = Webhooks(
            db,
            self.vault,
            clock,
            allow_private=settings.webhook_allow_private,
            retry_window=settings.webhook_retry_window,
        )
        self.sessions.detail_chars = self.runs.detail_chars = settings.event_details_max_chars
        self.event_feed = EventFeed(
            db,
            poll_interval=settings.stream_poll_interval,
            queue_size=settings.stream_queue_size,
            listen_poll_interval=settings.stream_fallback_poll_interval,
            check_interval=settings.stream_check_interval,
        )

    async def readiness(self, timeout: float = 5.0) -> dict[str, str]:
        """``ok``, or what failed, for each dependency a request needs: the database and the blob store."""
        checks: dict[str, str] = {}
        for name, probe in (("database", self.db.ping), ("blobs", self.blobs.ping)):
            try:
                await asyncio.wait_for(probe(), timeout)
                checks[name] = "ok"
            except TimeoutError:
                checks[name] = f"no answer within {timeout:g} s"
            except Exception as exc:  # any failure of the dependency means: not ready
                checks[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return checks

    def set_dispatcher(self, dispatcher: Dispatcher) -> None:
        """Wire the process's runner in after it was built from these services."""
        self.dispatcher = dispatcher
        self.sessions.dispatcher = dispatcher
