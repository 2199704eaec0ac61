"""Deleting the workspaces of sessions that ended long ago (``CODEYARD_WORKSPACE_RETENTION_DAYS``).

A finished, failed or suspended session keeps its workspace for the retention period, so a message can pick up
where it stopped; then the directory is deleted (``shutil.rmtree`` never follows a link the agent planted) and a
``workspace_deleted`` event says so. A later message re-creates the workspace: repos are cloned again and
attachments placed again. Directories of sessions that no longer exist are deleted once as old.
"""

import asyncio
import os
import shutil
import time
from pathlib import Path

import structlog

from codeyard.services.runs import Runs

log = structlog.get_logger("codeyard.runner")

SWEEP_INTERVAL = 3600.0
"""Seconds between two sweeps of one runner."""


async def sweep_workspaces(
    root: Path, runs: Runs, days: float, skip: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Delete the expired workspaces under ``root`` (except the sessions in ``skip``); the ids deleted."""
    if days <= 0 or not root.is_dir():
        return []
    names = [
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir(follow_symlinks=False) and entry.name.startswith("devin-") and entry.name not in skip
    ]
    if not names:
        return []
    expired, orphans = await runs.expired_workspaces(names, days)
    cutoff = time.time() - days * 86400
    orphans = [name for name in orphans if (root / name).lstat().st_mtime < cutoff]
    for session_id in [*expired, *orphans]:
        doomed = root / f".deleting-{session_id}"
        try:
            (root / session_id).rename(doomed)  # a session resumed meanwhile starts in a fresh directory
        except OSError:
            continue
        await asyncio.to_thread(shutil.rmtree, doomed, True)
        if session_id in expired:
            await runs.note_workspace_deleted(session_id, days)
    if expired or orphans:
        log.info("deleted expired workspaces", count=len(expired) + len(orphans), retention_days=days)
    return [*expired, *orphans]
