"""Hand-back reads a workspace the agent controlled: its git config, attributes, symlinks and alternates must not
make the server run anything or read outside the workspace."""

import os
import subprocess
from pathlib import Path

from codeyard.services.pull_requests import RepoSpec
from tests.conftest import ApiEnv

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "A",
    "GIT_AUTHOR_EMAIL": "a@x",
    "GIT_COMMITTER_NAME": "A",
    "GIT_COMMITTER_EMAIL": "a@x",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=ENV).stdout


async def session_with_repo(api: ApiEnv, directory: str = "app") -> tuple[str, Path, str]:
    created = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "hostile"})
    sid = created.json()["session_id"]
    repo = api.settings.data_dir / "workspaces" / sid / directory
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("one\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    await api.services.pull_requests.record_repos(sid, [RepoSpec(0, "owner/app", directory, base, "main")])
    return sid, repo, base


async def test_agent_controlled_config_runs_nothing(api: ApiEnv, tmp_path: Path) -> None:
    sid, repo, _ = await session_with_repo(api)
    marker = tmp_path / "pwned"
    evil = f"touch {marker}"
    (repo / "a.txt").write_text("two\n")
    git(repo, "commit", "-qam", "change")
    # everything git could run from a repository's config or attributes, planted after the last commit
    with (repo / ".git" / "config").open("a") as config:
        config.write(
            f'[core]\n\tfsmonitor = "{evil}"\n\tpager = {evil}\n[diff]\n\texternal = {evil}\n'
            f'[diff "x"]\n\ttextconv = {evil}\n[filter "x"]\n\tclean = {evil}\n\tsmudge = {evil}\n'
            f"\trequired = true\n"
        )
    (repo / ".gitattributes").write_text("* filter=x diff=x\n")
    (repo / "b.txt").write_text("untracked\n")
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\n{evil}\n")
    hook.chmod(0o755)

    changes = await api.client.get(api.org_path(f"/sessions/{sid}/changes"), headers=api.auth())
    assert changes.status_code == 200, changes.text
    item = changes.json()["items"][0]
    assert [c["subject"] for c in item["commits"]] == ["change"] and item["uncommitted"] is True
    bundle = await api.client.get(api.org_path(f"/sessions/{sid}/changes/0.bundle"), headers=api.auth())
    patch = await api.client.get(api.org_path(f"/sessions/{sid}/changes/0.patch"), headers=api.auth())
    assert bundle.status_code == 200 and patch.status_code == 200
    assert "b.txt" in patch.text and ".gitattributes" in patch.text
    assert not marker.exists(), "the server ran a command named by the workspace's git config"
    assert "b.txt" not in git(repo, "ls-files")  # the workspace's index was not touched


async def test_links_and_borrowed_objects_are_refused(api: ApiEnv, tmp_path: Path) -> None:
    # another org's repository the agent would like to read through the hand-back
    secret_repo = tmp_path / "elsewhere"
    secret_repo.mkdir()
    git(secret_repo, "init", "-q")
    (secret_repo / "secret.txt").write_text("top secret\n")
    git(secret_repo, "add", ".")
    git(secret_repo, "commit", "-qm", "secret")

    sid, repo, _ = await session_with_repo(api)
    alternates = repo / ".git" / "objects" / "info" / "alternates"
    alternates.write_text(str(secret_repo / ".git" / "objects") + "\n")
    answer = await api.client.get(api.org_path(f"/sessions/{sid}/changes"), headers=api.auth())
    assert answer.status_code == 409 and "borrows objects" in answer.json()["detail"]
    alternates.unlink()

    # the repository directory replaced by a symlink to the other repository
    workspace = repo.parent
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    (workspace / "app").symlink_to(secret_repo)
    for suffix in ("/changes", "/changes/0.bundle", "/changes/0.patch"):
        answer = await api.client.get(api.org_path(f"/sessions/{sid}{suffix}"), headers=api.auth())
        assert answer.status_code == 409, (suffix, answer.text)
        assert "top secret" not in answer.text


async def test_other_orgs_and_unknown_indexes(api: ApiEnv) -> None:
    sid, _, _ = await session_with_repo(api)
    other_org, other_key = await api.new_org()
    answer = await api.client.get(api.org_path(f"/sessions/{sid}/changes", other_org), headers=api.auth(other_key))
    assert answer.status_code == 404
    answer = await api.client.get(
        api.org_path(f"/sessions/{sid}/changes/0.bundle", other_org), headers=api.auth(other_key)
    )
    assert answer.status_code == 404
    nothing = await api.client.get(api.org_path(f"/sessions/{sid}/changes/0.bundle"), headers=api.auth())
    assert nothing.status_code == 404 and "no commit" in nothing.json()["detail"]
    empty = await api.client.get(api.org_path(f"/sessions/{sid}/changes/0.patch"), headers=api.auth())
    assert empty.status_code == 200 and empty.content == b""
