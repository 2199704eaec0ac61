"""Clones with a git connection: the token travels only in git's environment-only config, the workspace's remote
URL never carries credentials, and a refused token is said in plain words."""

import os
import subprocess
from pathlib import Path

import pytest

from codeyard.runner import clone, workspace
from codeyard.runner.remotes import CloneAuth, auth_env, remote_for, without_credentials
from codeyard.runner.session_git import git_identity, install_co_author_hook, parse_identity
from codeyard.services.git_connections import Credentials
from tests.fakes.git_http import GitHttpServer

TOKEN = "glpat-" + "Qw3rTy7UiOp1AsDf9GhJk"


def creds(host: str, token: str = TOKEN, kind: str = "gitlab") -> Credentials:
    return Credentials("gitconn-1", host, kind, None, None, token)


LOOPBACK = clone.ClonePolicy(allow_private=True)
"""The test git server is on loopback, which the clone egress policy refuses unless allowed."""


async def test_clone_with_a_connection_leaves_no_credentials(tmp_path: Path) -> None:
    with GitHttpServer(tmp_path / "srv", TOKEN) as server:
        server.create_repo("group/app", {"x.txt": "x\n"})
        auth = CloneAuth({server.host: creds(server.host)})
        ws = await workspace.prepare(
            tmp_path / "ws", ["group/app"], [], git_base_url=server.url, allow_local=False, auth=auth, policy=LOOPBACK
        )
        config = (ws.repos["group/app"] / ".git" / "config").read_text()
        assert TOKEN not in config and "extraHeader" not in config
        assert f"url = {server.url}/group/app" in config
        assert server.auth_headers and all(h.startswith("Basic ") for h in server.auth_headers)


async def test_a_password_in_the_url_is_removed_after_the_clone(tmp_path: Path) -> None:
    with GitHttpServer(tmp_path / "srv", TOKEN) as server:
        server.create_repo("group/app", {"x.txt": "x\n"})
        url = f"http://user:{TOKEN}@{server.host}/group/app.git"
        ws = await workspace.prepare(
            tmp_path / "ws", [url], [], git_base_url=server.url, allow_local=False, policy=LOOPBACK
        )
        config = (ws.repos[url] / ".git" / "config").read_text()
        assert TOKEN not in config and f"url = {server.url}/group/app.git" in config


async def test_a_refused_token_is_plain_and_tokenless(tmp_path: Path) -> None:
    with GitHttpServer(tmp_path / "srv", TOKEN) as server:
        server.create_repo("group/app", {"x.txt": "x\n"})
        auth = CloneAuth({server.host: creds(server.host, "wrong-token-123")})
        with pytest.raises(workspace.WorkspaceError) as caught:
            await workspace.prepare(
                tmp_path / "ws",
                ["group/app"],
                [],
                git_base_url=server.url,
                allow_local=False,
                auth=auth,
                policy=LOOPBACK,
            )
        assert str(caught.value) == f"the git connection for {server.host} was refused: check its token"
        # without a connection the message stays git's own
        with pytest.raises(workspace.WorkspaceError) as plain:
            await workspace.prepare(
                tmp_path / "ws2", ["group/app"], [], git_base_url=server.url, allow_local=False, policy=LOOPBACK
            )
        assert "was refused" not in str(plain.value) and "wrong-token" not in str(plain.value)


def test_remotes() -> None:
    assert without_credentials("https://u:p@example.com:8443/a/b.git") == "https://example.com:8443/a/b.git"
    assert without_credentials("git@example.com:a/b.git") == "git@example.com:a/b.git"
    remote = remote_for("owner/app", "https://x:y@GitHub.com/owner/app.git", {"github.com": creds("github.com")})
    assert (remote.url, remote.host, remote.project) == ("https://github.com/owner/app.git", "github.com", "owner/app")
    assert remote.credentials is not None
    env = auth_env(creds("gitlab.com"))
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader" and TOKEN not in env["GIT_CONFIG_VALUE_0"]
    assert env["GIT_CONFIG_KEY_1"] == "http.followRedirects" and env["GIT_CONFIG_VALUE_1"] == "false"
    assert TOKEN not in repr(creds("gitlab.com"))


def test_identity_and_co_author_hook(tmp_path: Path) -> None:
    assert parse_identity("Ada Lovelace <ada@example.com>") == "Ada Lovelace <ada@example.com>"
    assert parse_identity("ada@example.com") == "ada@example.com <ada@example.com>"
    assert parse_identity("ci-bot") is None
    env = {**os.environ, **git_identity("Agent <agent@example.com>")}
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    install_co_author_hook(repo, "Ada Lovelace <ada@example.com>")
    (repo / "f").write_text("f\n")
    subprocess.run(["git", "-C", str(repo), "add", "f"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "Add f"], check=True, env=env)
    shown = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%an <%ae>%n%B"], capture_output=True, text=True, check=True
    ).stdout
    assert shown.splitlines()[0] == "Agent <agent@example.com>"
    assert "Co-authored-by: Ada Lovelace <ada@example.com>" in shown
