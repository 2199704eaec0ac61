"""Hand-back (contract §10): what a session changed in each repository, as a summary, a bundle and a patch."""

from pathlib import Path
from typing import Any

from sqlalchemy import select

from codeyard.errors import NotFoundError, PayloadTooLargeError
from codeyard.services.pull_requests import PullRequests
from codeyard.services.workspace_git import repo_path, shadow
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, SessionRepo

MAX_PATCH_BYTES = 200 * 1024 * 1024


class Changes:
    def __init__(self, db: Database, pull_requests: PullRequests, data_dir: Path) -> None:
        self.db = db
        self.pull_requests = pull_requests
        self.workspaces = data_dir / "workspaces"

    async def summary(self, org_id: str, session_id: str) -> list[dict[str, Any]]:
        """Per repository ``{index, repo, directory, base_sha, head_sha, commits, diffstat, uncommitted}``."""
        items: list[dict[str, Any]] = []
        for index, repo in enumerate(await self._repos(org_id, session_id)):
            async with shadow(self._path(session_id, repo)) as git:
                head = git.head
                items.append(
                    {
                        "index": index,
                        "repo": repo.entry,
                        "directory": repo.directory,
                        "base_sha": repo.base_sha,
                        "head_sha": head,
                        "commits": await git.commits(repo.base_sha, head),
                        "diffstat": await git.diffstat(repo.base_sha, head),
                        "uncommitted": bool(await git.status()),
                    }
                )
        return items

    async def bundle(self, org_id: str, session_id: str, index: int) -> bytes:
        repo = await self._repo(org_id, session_id, index)
        async with shadow(self._path(session_id, repo)) as git:
            if git.head == repo.base_sha:
                raise NotFoundError(f"the session made no commit in {repo.entry[:100]}")
            return await git.bundle(repo.base_sha, git.head)

    async def patch(self, org_id: str, session_id: str, index: int) -> bytes:
        repo = await self._repo(org_id, session_id, index)
        async with shadow(self._path(session_id, repo)) as git:
            patch = await git.uncommitted_patch()
        if len(patch) > MAX_PATCH_BYTES:
            raise PayloadTooLargeError(
                f"the uncommitted work is {len(patch) // (1024 * 1024)} MiB, more than a patch can carry "
                f"({MAX_PATCH_BYTES // (1024 * 1024)} MiB): commit it, or ignore build output in .gitignore"
            )
        return patch

    async def _repos(self, org_id: str, session_id: str) -> list[SessionRepo]:
        async with self.db.read() as s:
            found = await s.scalar(
                select(AgentSessionRow.id).where(AgentSessionRow.id == session_id, AgentSessionRow.org_id == org_id)
            )
        if found is None:
            raise NotFoundError(f"session {session_id[:80]} not found")
        return await self.pull_requests.repos(session_id)

    async def _repo(self, org_id: str, session_id: str, index: int) -> SessionRepo:
        repos = await self._repos(org_id, session_id)
        if not 0 <= index < len(repos):
            raise NotFoundError(f"the session has no repository number {index}")
        return repos[index]

    def _path(self, session_id: str, repo: SessionRepo) -> Path:
        root = self.workspaces / session_id
        if not root.is_dir() or root.is_symlink():
            raise NotFoundError("the session's workspace is not on this server (removed, or on another worker)")
        return repo_path(root, repo.directory)
