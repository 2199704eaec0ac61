"""Hand-back on an API replica without the workspace (distributed mode): the session's work is read from its last
workspace checkpoint in the blob store, unpacked once per checkpoint."""

import os
import subprocess
from pathlib import Path

import pytest

from codeyard.errors import NotFoundError
from codeyard.services.changes import Changes
from codeyard.storage import checkpoints
from codeyard.storage.blobs import LocalBlobs
from tests.conftest import ApiEnv
from tests.git.test_handback_hostile import git, session_with_repo


async def test_a_replica_reads_the_work_from_the_last_checkpoint(api: ApiEnv, tmp_path: Path) -> None:
    sid, repo, base = await session_with_repo(api)  # the worker's workspace, in api's data dir
    (repo / "a.txt").write_text("two\n")
    git(repo, "commit", "-qam", "first change")
    blobs = LocalBlobs(tmp_path / "blobs")
    workspace = repo.parent
    await checkpoints.save(blobs, workspace, tmp_path / "spool", sid, 5)

    replica = Changes(api.db, api.services.pull_requests, tmp_path / "replica", blobs)
    [item] = await replica.summary(api.org_id, sid)
    assert [c["subject"] for c in item["commits"]] == ["first change"]
    assert item["base_sha"] == base and item["uncommitted"] is False
    bundle = await replica.bundle(api.org_id, sid, 0)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    (tmp_path / "work.bundle").write_bytes(bundle)
    git(clone, "fetch", "-q", str(tmp_path / "work.bundle"), "refs/heads/codeyard:refs/heads/codeyard")
    assert git(clone, "log", "-1", "--format=%s", "codeyard").strip() == "first change"
    assert [p.name for p in (tmp_path / "replica" / "handback" / sid).iterdir()] == ["step-5"]

    # A later checkpoint replaces the unpacked one.
    (repo / "b.txt").write_text("new\n")
    git(repo, "add", "b.txt")
    git(repo, "commit", "-qm", "second change")
    (repo / "c.txt").write_text("not committed\n")
    await checkpoints.save(blobs, workspace, tmp_path / "spool", sid, 9)
    [item] = await replica.summary(api.org_id, sid)
    assert [c["subject"] for c in item["commits"]] == ["first change", "second change"]
    assert item["uncommitted"] is True
    assert b"not committed" in await replica.patch(api.org_id, sid, 0)
    assert [p.name for p in (tmp_path / "replica" / "handback" / sid).iterdir()] == ["step-9"]

    # Another session's old unpacked checkpoint goes when a new one is unpacked.
    forgotten = tmp_path / "replica" / "handback" / "devin-old"
    (forgotten / "step-1").mkdir(parents=True)
    os.utime(forgotten, (0, 0))
    other, _, _ = await session_with_repo(api, "other")
    await checkpoints.save(blobs, api.settings.data_dir / "workspaces" / other, tmp_path / "spool", other, 1)
    await replica.summary(api.org_id, other)
    assert sorted(p.name for p in (tmp_path / "replica" / "handback").iterdir()) == sorted([sid, other])


async def test_no_workspace_and_no_checkpoint_is_a_plain_404(api: ApiEnv, tmp_path: Path) -> None:
    sid, _, _ = await session_with_repo(api)
    replica = Changes(api.db, api.services.pull_requests, tmp_path / "replica", LocalBlobs(tmp_path / "blobs"))
    with pytest.raises(NotFoundError, match="not on this server"):
        await replica.summary(api.org_id, sid)
    single = Changes(api.db, api.services.pull_requests, tmp_path / "replica")  # embedded: no checkpoints
    with pytest.raises(NotFoundError, match="not on this server"):
        await single.bundle(api.org_id, sid, 0)
