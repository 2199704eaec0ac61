"""Workspace checkpoints in the blob store (distributed mode): saved at rest points and on a timer while the agent
works; restored when a session moves to a machine that does not have its workspace (its worker died), and by an
API replica that hands a session's work back (``codeyard.services.changes``) without the workspace on its disk.

One checkpoint per session, replaced each time: ``checkpoints/<session>/workspace.tar.gz`` and a small
``checkpoints/<session>/workspace.json`` with the history step it was taken at. Symlinks are archived as links,
never followed; extraction uses tarfile's ``data`` filter and skips what it refuses (absolute paths, ``..``,
links or devices pointing outside the workspace).
"""

import asyncio
import json
import os
import secrets
import tarfile
from pathlib import Path

from codeyard.storage.blobs import BlobNotFoundError, BlobStore


def _keys(session_id: str) -> tuple[str, str]:
    return f"checkpoints/{session_id}/workspace.tar.gz", f"checkpoints/{session_id}/workspace.json"


def _pack(root: Path, target: Path) -> None:
    with tarfile.open(target, "w:gz", compresslevel=1, dereference=False) as tar:
        tar.add(root, arcname=".", recursive=True)


def _safe_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's ``data`` filter, skipping (not failing on) what it refuses: a symlink the agent pointed outside
    the workspace is left out, the rest of the workspace comes back."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def _unpack(archive: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter=_safe_member)


async def save(blobs: BlobStore, root: Path, spool: Path, session_id: str, step: int) -> None:
    """Store the workspace at ``root`` as the session's checkpoint, taken at history step ``step``."""
    if not root.is_dir():
        return
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    archive = spool / f"checkpoint-{secrets.token_hex(8)}.tar.gz"
    try:
        await asyncio.to_thread(_pack, root, archive)
        os.chmod(archive, 0o600)
        data_key, meta_key = _keys(session_id)
        await blobs.put_file(data_key, archive)
        await blobs.put_bytes(meta_key, json.dumps({"step": step}).encode())
    finally:
        archive.unlink(missing_ok=True)


async def restore(blobs: BlobStore, root: Path, spool: Path, session_id: str) -> int | None:
    """Rebuild the workspace at ``root`` from the last checkpoint; its step, or ``None`` when there is none."""
    data_key, meta_key = _keys(session_id)
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    meta = spool / f"checkpoint-{secrets.token_hex(8)}.json"
    archive = spool / f"checkpoint-{secrets.token_hex(8)}.tar.gz"
    try:
        try:
            await blobs.get_file(meta_key, meta)
            await blobs.get_file(data_key, archive)
        except BlobNotFoundError:
            return None
        await asyncio.to_thread(_unpack, archive, root)
        return int(json.loads(meta.read_text())["step"])
    finally:
        meta.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)


async def step_of(blobs: BlobStore, session_id: str) -> int | None:
    """The history step of the session's checkpoint, or ``None`` when it has none."""
    try:
        meta = b"".join([chunk async for chunk in blobs.stream(_keys(session_id)[1])])
    except BlobNotFoundError:
        return None
    return int(json.loads(meta)["step"])
