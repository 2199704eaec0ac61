"""apply_handoff(): the server rebuilds the user's exact state in a fresh clone, from the prompt and attachments."""

import os
from pathlib import Path

import pytest

from codeyard.handoff.apply import HandoffApplyError, apply_handoff, parse_manifest
from codeyard.handoff.collect import Collected, collect
from codeyard.handoff.manifest import Manifest, manifest_for
from codeyard.handoff.prompt import compose_prompt
from tests.handoff.repos import commit_all, fresh_clone, git, make_local_work, tree_snapshot

IGNORED = {"debug.log", "build/out.txt"}


def hand_over(work: Path, server: Path, downloads: Path) -> tuple[Collected, Manifest, list[str]]:
    """What the client sends and the runner does: prompt with manifest, attachments downloaded, then apply."""
    collected = collect(work)
    manifest = manifest_for(collected)
    downloads.mkdir(exist_ok=True)
    files: dict[str, Path] = {}
    for name, data in ((manifest.bundle, collected.bundle), (manifest.patch, collected.patch)):
        if name is not None and data is not None:
            files[name] = downloads / name
            files[name].write_bytes(data)
    urls = {name: f"https://codeyard.example/attachments/{name}" for name in files}
    prompt = compose_prompt("Finish the feature", "", collected, manifest, urls)
    parsed = parse_manifest(prompt)
    assert parsed == manifest
    return collected, manifest, apply_handoff(server, parsed, files)


def history(repo: Path) -> str:
    return git(repo, "log", "--format=%H %P %s", "HEAD")


def test_unpushed_commits_and_every_local_change_are_rebuilt_exactly(work: Path, remote: Path, tmp_path: Path) -> None:
    make_local_work(work)
    server = fresh_clone(tmp_path, remote)

    collected, manifest, done = hand_over(work, server, tmp_path / "downloads")

    assert manifest.bundle is not None and manifest.patch is not None, "binary changes travel as an attachment"
    assert history(server) == history(work)
    assert git(server, "symbolic-ref", "--short", "HEAD") == "main"
    expected = {path: data for path, data in tree_snapshot(work).items() if path not in IGNORED}
    assert tree_snapshot(server) == expected
    assert os.access(server / "run.sh", os.X_OK)
    status = git(server, "status", "--porcelain").splitlines()
    assert {"?? notes.txt", "?? pic.bin", "?? run.sh", "?? new_name.txt"} <= set(status), "new files stay untracked"
    assert git(server, "diff", "--cached") == "", "nothing is staged or committed on top of the user's HEAD"
    assert done == [
        f"Fetched 2 unpushed commits on top of {collected.base_sha[:12]} from the handoff bundle.",
        f"Checked out branch `main` at {collected.head_sha[:12]}.",
        "Applied the user's uncommitted changes to 7 files; they are left uncommitted, new files untracked.",
    ]


def test_an_inline_patch_without_commits_is_rebuilt(work: Path, remote: Path, tmp_path: Path) -> None:
    (work / "README.md").write_text("# demo, edited\n")
    (work / "todo.txt").write_text("write docs\n")
    server = fresh_clone(tmp_path, remote)

    _collected, manifest, done = hand_over(work, server, tmp_path / "downloads")

    assert (manifest.bundle, manifest.patch) == (None, None) and manifest.patch_inline
    assert tree_snapshot(server) == tree_snapshot(work)
    assert history(server) == history(work)
    assert done[0].startswith("Checked out branch `main`")


def test_a_huge_attached_diff_is_rebuilt_whole(work: Path, remote: Path, tmp_path: Path) -> None:
    (work / "big.txt").write_text("".join(f"generated line {n:06d}\n" for n in range(20_000)))
    server = fresh_clone(tmp_path, remote)

    _collected, manifest, _done = hand_over(work, server, tmp_path / "downloads")

    assert manifest.patch is not None
    assert (server / "big.txt").read_bytes() == (work / "big.txt").read_bytes()


def test_a_detached_head_is_rebuilt_detached(work: Path, remote: Path, tmp_path: Path) -> None:
    (work / "feature.py").write_text("x = 1\n")
    head = commit_all(work, "local only")
    git(work, "checkout", "--quiet", "--detach", head)
    (work / "feature.py").write_text("x = 2\n")
    server = fresh_clone(tmp_path, remote)

    _collected, _manifest, done = hand_over(work, server, tmp_path / "downloads")

    assert git(server, "rev-parse", "HEAD") == head
    assert git(server, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"
    assert (server / "feature.py").read_text() == "x = 2\n"
    assert done[1] == f"Checked out {head[:12]} as a detached HEAD, as on the user's machine."


def test_without_a_remote_an_empty_directory_gets_the_whole_history(tmp_path: Path) -> None:
    solo = tmp_path / "solo"
    git(tmp_path, "init", "--quiet", str(solo))
    (solo / "a.txt").write_text("one\n")
    commit_all(solo, "one")
    (solo / "a.txt").write_text("two\n")
    commit_all(solo, "two")
    (solo / "b.txt").write_text("draft\n")
    server = tmp_path / "empty"
    server.mkdir()

    _collected, _manifest, done = hand_over(solo, server, tmp_path / "downloads")

    assert history(server) == history(solo)
    assert tree_snapshot(server) == tree_snapshot(solo)
    assert done[0] == "Rebuilt the whole history (2 commits) from the handoff bundle."


def test_a_new_branch_is_created_and_tracks_the_remote_branch_when_it_exists(
    work: Path, remote: Path, tmp_path: Path
) -> None:
    git(work, "checkout", "--quiet", "-b", "topic")
    (work / "feature.py").write_text("x = 1\n")
    git(work, "push", "--quiet", "origin", "topic")
    (work / "feature.py").write_text("x = 2\n")
    commit_all(work, "not pushed yet")
    server = fresh_clone(tmp_path, remote)

    hand_over(work, server, tmp_path / "downloads")

    assert git(server, "symbolic-ref", "--short", "HEAD") == "topic"
    assert git(server, "rev-parse", "--abbrev-ref", "topic@{upstream}") == "origin/topic"
    assert history(server) == history(work)


def test_a_shallow_clone_fetches_the_base_it_lacks(work: Path, remote: Path, tmp_path: Path) -> None:
    make_local_work(work)
    later = tmp_path / "colleague"
    git(tmp_path, "clone", "--quiet", str(remote), str(later))
    (later / "README.md").write_text("# demo, moved on\n")
    commit_all(later, "someone else's work")
    git(later, "push", "--quiet", "origin", "main")  # the user's base is no longer the remote's tip
    server = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{remote}", str(server))

    hand_over(work, server, tmp_path / "downloads")

    assert git(server, "rev-parse", "HEAD") == git(work, "rev-parse", "HEAD")
    assert (server / "feature.py").read_text() == (work / "feature.py").read_text()


def test_repository_hooks_never_run(work: Path, remote: Path, tmp_path: Path) -> None:
    make_local_work(work)
    server = fresh_clone(tmp_path, remote)
    marker = tmp_path / "hook-ran"
    for hook in ("post-checkout", "post-merge", "reference-transaction"):
        script = server / ".git" / "hooks" / hook
        script.write_text(f"#!/bin/sh\ntouch {marker}\n")
        script.chmod(0o755)

    hand_over(work, server, tmp_path / "downloads")

    assert not marker.exists()


def test_a_bundle_whose_base_the_server_lacks_is_refused_clearly(work: Path, tmp_path: Path) -> None:
    make_local_work(work)
    collected = collect(work)
    manifest = manifest_for(collected)
    unrelated = tmp_path / "unrelated"
    git(tmp_path, "init", "--quiet", str(unrelated))
    bundle = tmp_path / "handoff.bundle"
    bundle.write_bytes(collected.bundle or b"")

    expected = f"base commit {collected.base_sha[:12]} is not in the clone of the remote: was it pushed"
    with pytest.raises(HandoffApplyError, match=expected):
        apply_handoff(unrelated, manifest, {"handoff.bundle": bundle})


def test_missing_attachments_and_patches_that_do_not_apply_are_errors(work: Path, remote: Path, tmp_path: Path) -> None:
    make_local_work(work)
    manifest = manifest_for(collect(work))
    with pytest.raises(HandoffApplyError, match=r"'handoff\.bundle' was not downloaded"):
        apply_handoff(fresh_clone(tmp_path, remote, "one"), manifest, {})

    head = git(remote, "rev-parse", "main")
    stale = "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# other\n+# new\n"
    bad = Manifest(str(remote), "main", head, head, None, None, stale)
    with pytest.raises(HandoffApplyError, match="do not apply to the checked-out commit"):
        apply_handoff(fresh_clone(tmp_path, remote, "two"), bad, {})


def test_parse_manifest_reads_the_last_block_and_rejects_broken_ones() -> None:
    sha = "a" * 40
    good = Manifest("https://github.com/o/r.git", "main", sha, sha, None, None, None)
    decoy = Manifest(None, "decoy", sha, sha, None, None, None)
    assert parse_manifest("just a task") is None
    assert parse_manifest(f"task\n\n{decoy.to_block()}\n\n{good.to_block()}\n") == good
    with pytest.raises(HandoffApplyError, match="not valid JSON"):
        parse_manifest("```codeyard-handoff\n{nope\n```")
    with pytest.raises(HandoffApplyError, match="unsupported codeyard-handoff version 2"):
        parse_manifest(good.to_block().replace('"version": 1', '"version": 2'))
    with pytest.raises(HandoffApplyError, match="branch name '--orphan' is not valid"):
        apply_handoff(Path("/nonexistent"), Manifest(None, "--orphan", sha, sha, "b", None, None), {})
    with pytest.raises(HandoffApplyError, match="head_sha must be a full commit id"):
        parse_manifest(good.to_block().replace(f'"head_sha": "{sha}"', '"head_sha": "HEAD"'))
