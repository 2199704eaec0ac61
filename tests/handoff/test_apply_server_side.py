"""apply_handoff() on the server (issue 8): git runs with a minimal environment, and the patch path checks
(no ``..``, nothing beyond a symlink) keep the user's diff inside the repository."""

from pathlib import Path

import pytest

from codeyard.handoff.apply import HandoffApplyError, apply_handoff
from codeyard.handoff.manifest import Manifest
from tests.handoff.repos import commit_all, fresh_clone, git


def test_server_side_git_does_not_inherit_the_servers_environment(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fresh_clone(tmp_path, remote)
    head = git(remote, "rev-parse", "main")
    trace = tmp_path / "trace.log"
    monkeypatch.setenv("GIT_TRACE", str(trace))  # any variable of the server's reaches git unless it is cleaned
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    done = apply_handoff(server, Manifest(str(remote), "main", head, head, None, None, None), {})
    assert "Checked out branch `main`" in done[0]
    assert not trace.exists()


@pytest.mark.parametrize(
    "target",
    ["../escaped.txt", "link/escaped.txt"],
)
def test_a_patch_cannot_write_outside_the_repository(remote: Path, tmp_path: Path, target: str) -> None:
    server = fresh_clone(tmp_path, remote)
    outside = tmp_path / "outside"
    outside.mkdir()
    (server / "link").symlink_to(outside)
    git(server, "add", "link")
    commit_all(server, "a link")
    head = git(server, "rev-parse", "HEAD")
    patch = (
        f"diff --git a/{target} b/{target}\nnew file mode 100644\n--- /dev/null\n+++ b/{target}\n@@ -0,0 +1 @@\n+x\n"
    )
    with pytest.raises(HandoffApplyError, match="do not apply"):
        apply_handoff(server, Manifest(None, None, head, head, None, None, patch), {})
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()


def test_a_bundle_over_the_servers_limit_is_refused(tmp_path: Path) -> None:
    sha = "c" * 40
    repo = tmp_path / "repo"
    repo.mkdir()
    bundle = tmp_path / "work.bundle"
    bundle.write_bytes(b"#" * 1000)
    manifest = Manifest(None, None, sha, sha, "work.bundle", None, None)
    with pytest.raises(HandoffApplyError, match="larger than this server's limit of 100 bytes"):
        apply_handoff(repo, manifest, {"work.bundle": bundle}, max_bundle_bytes=100)
