"""A session's cloned repositories, the branches pushed for it and their pull requests (contract §10).

The pull request rows are the durable state of the periodic refresh: ``checked_at`` says when a forge was last
asked, so a restarted server continues where the last one stopped.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from codeyard.domain.ids import new_id
from codeyard.services import outbox
from codeyard.services.clock import Clock, system_clock
from codeyard.services.events import Category, add_event
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, PullRequestRow, SessionRepo

OPEN, MERGED, CLOSED, PUSHED = "open", "merged", "closed", "pushed"


@dataclass(frozen=True)
class RepoSpec:
    position: int
    entry: str
    directory: str
    base_sha: str
    base_branch: str | None


@dataclass(frozen=True)
class PushedBranch:
    """What the runner did for one ``open_pull_request`` call."""

    repo: str
    connection_id: str | None
    project: str
    branch: str
    base: str | None
    head_sha: str
    number: int | None
    url: str | None
    state: str


class PullRequests:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock

    async def record_repos(self, session_id: str, repos: list[RepoSpec]) -> None:
        """Remember each clone once (the first preparation's base commit stays the base on resume)."""
        async with self.db.write() as s:
            known = set(await s.scalars(select(SessionRepo.position).where(SessionRepo.session_id == session_id)))
            for spec in repos:
                if spec.position not in known:
                    s.add(
                        SessionRepo(
                            session_id=session_id,
                            position=spec.position,
                            entry=spec.entry,
                            directory=spec.directory,
                            base_sha=spec.base_sha,
                            base_branch=spec.base_branch,
                        )
                    )

    async def repos(self, session_id: str) -> list[SessionRepo]:
        async with self.db.read() as s:
            query = select(SessionRepo).where(SessionRepo.session_id == session_id).order_by(SessionRepo.position)
            return list(await s.scalars(query))

    async def for_repo(self, session_id: str, repo: str) -> PullRequestRow | None:
        async with self.db.read() as s:
            return await s.scalar(
                select(PullRequestRow).where(PullRequestRow.session_id == session_id, PullRequestRow.repo == repo)
            )

    async def save(self, session_id: str, org_id: str, pushed: PushedBranch) -> PullRequestRow:
        """Store the push (one row per session and repo: a repeated call updates it), the session's
        ``pull_requests`` and a ``git`` event."""
        now = self.clock()
        async with self.db.write() as s:
            row = await s.scalar(
                select(PullRequestRow).where(
                    PullRequestRow.session_id == session_id, PullRequestRow.repo == pushed.repo
                )
            )
            if row is None:
                row = PullRequestRow(id=new_id("pr"), session_id=session_id, org_id=org_id, created_at=now)
                s.add(row)
            row.repo, row.connection_id, row.project = pushed.repo, pushed.connection_id, pushed.project
            row.branch, row.base, row.head_sha = pushed.branch, pushed.base, pushed.head_sha
            row.number, row.url, row.state = pushed.number, pushed.url, pushed.state
            row.checked_at = row.updated_at = now
            await self._sync_session(s, session_id, now)
            what = f"pull request {pushed.url}" if pushed.url else "no pull request (no forge for this host)"
            add_event(
                s,
                session_id,
                "pull_request_opened" if pushed.url else "branch_pushed",
                Category.GIT,
                f"pushed {pushed.branch} ({pushed.head_sha[:12]}) to {pushed.project}: {what}",
                now=now,
                data={"repo": pushed.repo, "branch": pushed.branch, "head_sha": pushed.head_sha, "pr_url": pushed.url},
            )
        return row

    async def due(self, interval: float, limit: int = 50) -> list[PullRequestRow]:
        """Open pull requests whose state was last checked at least ``interval`` seconds ago, oldest check first."""
        cutoff = self.clock() - interval
        async with self.db.read() as s:
            query = (
                select(PullRequestRow)
                .where(PullRequestRow.state == OPEN, PullRequestRow.checked_at <= cutoff)
                .order_by(PullRequestRow.checked_at)
                .limit(limit)
            )
            return list(await s.scalars(query))

    async def set_state(self, pr_id: str, state: str | None) -> None:
        """Note a check (``state`` ``None`` when the forge could not answer); a new state reaches the session."""
        now = self.clock()
        async with self.db.write() as s:
            row = await s.scalar(select(PullRequestRow).where(PullRequestRow.id == pr_id))
            if row is None:
                return
            row.checked_at = now
            if state is None or state == row.state:
                return
            row.state, row.updated_at = state, now
            await self._sync_session(s, row.session_id, now)
            add_event(
                s,
                row.session_id,
                "pull_request_state",
                Category.GIT,
                f"pull request {row.url} is now {state}",
                now=now,
                data={"repo": row.repo, "pr_url": row.url, "pr_state": state},
            )

    @staticmethod
    async def _sync_session(s: Any, session_id: str, now: float) -> None:
        await s.flush()
        rows = await s.scalars(
            select(PullRequestRow)
            .where(PullRequestRow.session_id == session_id, PullRequestRow.url.is_not(None))
            .order_by(PullRequestRow.pk)
        )
        session = await s.scalar(select(AgentSessionRow).where(AgentSessionRow.id == session_id))
        if session is not None:
            session.pull_requests = [{"pr_url": r.url, "pr_state": r.state} for r in rows]
            session.updated_at = now
            await outbox.enqueue(s, session.org_id, outbox.SESSION_PULL_REQUEST, outbox.session_data(session), now=now)
