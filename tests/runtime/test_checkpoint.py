"""Workspace checkpoints: a round trip through the blob store, symlinks archived as links and never followed,
and an archive that tries to write outside the workspace restores nothing outside it."""

import io
import tarfile
from pathlib import Path

from codeyard.runner import checkpoint
from codeyard.storage.blobs import LocalBlobs


async def test_round_trip_keeps_files_and_the_step(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    root = tmp_path / "ws"
    (root / "repo" / "src").mkdir(parents=True)
    (root / "repo" / "src" / "a.py").write_text("print('a')\n")
    (root / "repo" / "run.sh").write_text("#!/bin/sh\n")
    (root / "repo" / "run.sh").chmod(0o755)
    secret = tmp_path / "host-secret"
    secret.write_text("host only")
    (root / "planted").symlink_to(secret)  # the agent points a link at the host
    (root / "inside").symlink_to("repo/src/a.py")
    await checkpoint.save(blobs, root, tmp_path / "spool", "devin-1", 7)

    target = tmp_path / "elsewhere"
    assert await checkpoint.restore(blobs, target, tmp_path / "spool", "devin-1") == 7
    assert (target / "repo" / "src" / "a.py").read_text() == "print('a')\n"
    assert (target / "repo" / "run.sh").stat().st_mode & 0o100
    assert (target / "inside").is_symlink() and (target / "inside").read_text() == "print('a')\n"
    assert not (target / "planted").exists() and not (target / "planted").is_symlink()  # skipped, not followed
    archived = b"".join([c async for c in blobs.stream("checkpoints/devin-1/workspace.tar.gz")])
    assert b"host only" not in archived
    assert await checkpoint.restore(blobs, tmp_path / "none", tmp_path / "spool", "devin-2") is None


async def test_an_archive_with_escaping_paths_restores_nothing_outside(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name in ("../escaped.txt", "/tmp/absolute-escape.txt", "ok.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    await blobs.put_bytes("checkpoints/devin-3/workspace.tar.gz", data.getvalue())
    await blobs.put_bytes("checkpoints/devin-3/workspace.json", b'{"step": 2}')
    root = tmp_path / "sub" / "ws"
    assert await checkpoint.restore(blobs, root, tmp_path / "spool", "devin-3") == 2
    assert (root / "ok.txt").read_text() == "hi"
    assert not (tmp_path / "sub" / "escaped.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()
