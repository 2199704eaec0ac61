"""Which ``repos`` entries a session may clone, and how (no shell, no hooks, no ``ext::`` transport)."""

import subprocess
from pathlib import Path

import pytest

from codeyard.runner.workspace import WorkspaceError, prepare, resolve_repo


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("acme/app", "https://git.example.com/acme/app"),
        ("https://github.com/acme/app.git", "https://github.com/acme/app.git"),
        ("git@github.com:acme/app.git", "git@github.com:acme/app.git"),
        ("ssh://git@host/acme/app", "ssh://git@host/acme/app"),
    ],
)
def test_remote_entries(entry: str, expected: str) -> None:
    assert resolve_repo(entry, "https://git.example.com", allow_local=False) == expected


@pytest.mark.parametrize(
    "entry",
    ["--upload-pack=touch /tmp/pwned", "ext::sh -c touch% /tmp/pwned", "acme/../etc", "a/b/c d", "x\n--help", ""],
)
def test_dangerous_or_malformed_entries_are_refused(entry: str) -> None:
    with pytest.raises(WorkspaceError):
        resolve_repo(entry, "https://git.example.com", allow_local=True)


def test_local_paths_need_permission_and_stay_out_of_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "workspaces" / "devin-x" / "repo").mkdir(parents=True)
    repo = tmp_path / "repo"
    repo.mkdir()
    with pytest.raises(WorkspaceError, match="not allowed"):
        resolve_repo(str(repo), "https://h", allow_local=False)
    assert resolve_repo(str(repo), "https://h", allow_local=True, forbidden=data) == str(repo)
    with pytest.raises(WorkspaceError, match="data directory"):
        resolve_repo(str(data / "workspaces" / "devin-x" / "repo"), "https://h", allow_local=True, forbidden=data)
    with pytest.raises(WorkspaceError, match="data directory"):
        resolve_repo(f"file://{data}/workspaces/../workspaces/devin-x", "https://h", allow_local=True, forbidden=data)


async def test_prepare_clones_without_running_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    for args in (
        ["init", "-q"],
        ["-c", "user.email=a@b", "-c", "user.name=A", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=origin, check=True)
    # a user-level git configuration whose hooks would run on every checkout
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "post-checkout").write_text(f"#!/bin/sh\ntouch {tmp_path}/hook-ran\n")
    (hooks / "post-checkout").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))  # other tests may point it elsewhere
    subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / "plain")], check=True)
    assert (tmp_path / "hook-ran").exists(), "the hook setup does not work, so the test would prove nothing"
    (tmp_path / "hook-ran").unlink()

    files = tmp_path / "upload.txt"
    files.write_text("data")
    ws = await prepare(
        tmp_path / "ws", [str(origin), str(origin)], [("upload.txt", files)], git_base_url="https://h", allow_local=True
    )
    assert sorted(p.name for p in ws.repos.values()) == ["origin"]  # the same entry twice is one clone
    assert (tmp_path / "ws" / "origin" / ".git").is_dir()
    assert (tmp_path / "ws" / "attachments" / "upload.txt").read_text() == "data"
    assert not (tmp_path / "hook-ran").exists()
    again = await prepare(tmp_path / "ws", [str(origin)], [], git_base_url="https://h", allow_local=True)
    assert again.repos[str(origin)] == tmp_path / "ws" / "origin"  # on resume the clone is reused
