"""Hand-back (contract §10): what a session changed in each repository, as a summary, a bundle and a patch.

The work is read from the session's workspace on this machine. Where workspaces are checkpointed (the distributed
mode: the session ran on a worker, this is an API replica), a session whose workspace is not here is read from its
last checkpoint in the blob store, unpacked once per checkpoint into ``<data dir>/handback/<session>/step-<N>``
(the previous one is removed): the work as of the session's last rest point. Sessions not handed back for
``HANDBACK_KEEP`` are removed from there whenever another checkpoint is unpacked.
"""

import asyncio
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from codeyard.errors import NotFoundError, PayloadTooLargeError
from codeyard.services.pull_requests import PullRequests
from codeyard.services.workspace_git import repo_path, shadow
from codeyard.storage import checkpoints
from codeyard.storage.blobs import BlobStore
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, SessionRepo

MAX_PATCH_BYTES = 200 * 1024 * 1024
HANDBACK_KEEP = 86400.0
"""Seconds an unpacked checkpoint of a session nobody handed back since is kept under ``handback/``."""


class Changes:
    def __init__(
        self, db: Database, pull_requests: PullRequests, data_dir: Path, checkpoint_store: BlobStore | None = None
    ) -> None:
        self.db = db
        self.pull_requests = pull_requests
        self.workspaces = data_dir / "workspaces"
        self.checkpoint_store = checkpoint_store
        """The blob store holding workspace checkpoints, where sessions run on other machines; else ``None``."""
        self.handback = data_dir / "handback"
        self.spool = data_dir / "tmp"
        self._unpacking = asyncio.Lock()
        """One unpacking at a time in this process (rare: once per checkpoint of a session handed back)."""

    async def summary(self, org_id: str, session_id: str) -> list[dict[str, Any]]:
        """Per repository ``{index, repo, directory, base_sha, head_sha, commits, diffstat, uncommitted}``."""
        items: list[dict[str, Any]] = []
        for index, repo in enumerate(await self._repos(org_id, session_id)):
            async with shadow(await self._path(session_id, repo)) as git:
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
        async with shadow(await self._path(session_id, repo)) as git:
            if git.head == repo.base_sha:
                raise NotFoundError(f"the session made no commit in {repo.entry[:100]}")
            return await git.bundle(repo.base_sha, git.head)

    async def patch(self, org_id: str, session_id: str, index: int) -> bytes:
        repo = await self._repo(org_id, session_id, index)
        async with shadow(await self._path(session_id, repo)) as git:
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

    async def _path(self, session_id: str, repo: SessionRepo) -> Path:
        return repo_path(await self._root(session_id), repo.directory)

    async def _root(self, session_id: str) -> Path:
        root = self.workspaces / session_id
        if root.is_dir() and not root.is_symlink():
            return root
        if self.checkpoint_store is not None:
            step = await checkpoints.step_of(self.checkpoint_store, session_id)
            if step is not None:
                return await self._unpacked(session_id, step)
        raise NotFoundError("the session's workspace is not on this server (removed, or on another worker)")

    async def _unpacked(self, session_id: str, step: int) -> Path:
        """The session's checkpoint at ``step`` unpacked under ``handback/`` (once; older ones removed)."""
        assert self.checkpoint_store is not None
        base = self.handback / session_id
        target = base / f"step-{step}"
        async with self._unpacking:
            if not target.is_dir():
                base.mkdir(mode=0o700, parents=True, exist_ok=True)
                partial = base / f".partial-{secrets.token_hex(6)}"
                try:
                    if await checkpoints.restore(self.checkpoint_store, partial, self.spool, session_id) is None:
                        raise NotFoundError("the session's workspace is not on this server, and it has no checkpoint")
                    try:
                        partial.rename(target)
                    except OSError:  # another process unpacked the same checkpoint first
                        pass
                finally:
                    await asyncio.to_thread(shutil.rmtree, partial, True)
                await asyncio.to_thread(self._sweep, base)
            for old in base.iterdir():
                if old != target and old.name.startswith("step-"):
                    await asyncio.to_thread(shutil.rmtree, old, True)
        return target

    def _sweep(self, keep: Path) -> None:
        """Remove the unpacked checkpoints of sessions not handed back for ``HANDBACK_KEEP`` seconds."""
        cutoff = time.time() - HANDBACK_KEEP
        for session_dir in self.handback.iterdir():
            try:
                stale = session_dir != keep and session_dir.lstat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if stale:
                shutil.rmtree(session_dir, ignore_errors=True)
