"""The push reads a workspace the agent controlled: its config must not redirect the token elsewhere, its hooks
must not run, and an unknown repo or a replaced directory is refused. Runs ``SessionPullRequests`` in-process
against real git over HTTP and the scripted forge."""

import subprocess
from pathlib import Path

import pytest

from codeyard.agent.tools import ToolError
from codeyard.runner.pull_request import SessionPullRequests
from codeyard.runner.redaction import Redactor
from codeyard.runner.remotes import CloneAuth
from codeyard.services.git_connections import ConnectionSpec
from codeyard.services.pull_requests import RepoSpec
from tests.conftest import ApiEnv
from tests.fakes.forge_server import ForgeServer
from tests.fakes.git_http import GitHttpServer
from tests.git.test_handback_hostile import git

TOKEN = "gitea-token-" + "Mn8Bv6Cx4Zl2Kj0Hg"


async def opener_for(api: ApiEnv, git_server: GitHttpServer, forge: ForgeServer) -> tuple[SessionPullRequests, Path]:
    created = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "push"})
    sid = created.json()["session_id"]
    spec = ConnectionSpec(git_server.host, "gitea", f"{forge.url}/gitea/api/v1", None, TOKEN)
    if await api.services.git_connections.for_host(api.org_id, git_server.host) is None:
        await api.services.git_connections.create("tester", api.org_id, spec)
    root = api.settings.data_dir / "workspaces" / sid
    root.mkdir(parents=True)
    url = f"{git_server.url}/team/app"
    subprocess.run(
        ["git", "clone", "-q", f"http://x:{TOKEN}@{git_server.host}/team/app", str(root / "app")], check=True
    )
    git(root / "app", "remote", "set-url", "origin", url)
    base = git(root / "app", "rev-parse", "HEAD").strip()
    await api.services.pull_requests.record_repos(sid, [RepoSpec(0, "team/app", "app", base, "main")])
    auth = CloneAuth(await api.services.git_connections.for_org(api.org_id))
    opener = SessionPullRequests(
        session_id=sid,
        org_id=api.org_id,
        root=root,
        pull_requests=api.services.pull_requests,
        auth=auth,
        urls={"team/app": url},
        redact=Redactor(auth.secrets().items()),
        known_secrets=auth.secrets(),
    )
    return opener, root / "app"


async def test_workspace_config_and_hooks_are_ignored(api: ApiEnv, tmp_path: Path) -> None:
    with (
        GitHttpServer(tmp_path / "git", TOKEN) as git_server,
        GitHttpServer(tmp_path / "evil", "x") as evil,
        ForgeServer(TOKEN) as forge,
    ):
        bare = git_server.create_repo("team/app", {"a.txt": "a\n"})
        opener, repo = await opener_for(api, git_server, forge)
        (repo / "a.txt").write_text("b\n")
        git(repo, "commit", "-qam", "Change a")
        marker = tmp_path / "pwned"
        with (repo / ".git" / "config").open("a") as config:
            config.write(
                f'[url "{evil.url}/"]\n\tinsteadOf = {git_server.url}/\n'
                f'[http]\n\tproxy = {evil.url}\n[core]\n\tfsmonitor = "touch {marker}"\n'
            )
        hook = repo / ".git" / "hooks" / "pre-push"
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)

        text = await opener.open_pull_request("team/app", "Change a", "Body text", None, False)
        assert "opened pull request #1" in text, text
        assert (
            git(bare, "log", "-1", "--format=%s", "refs/heads/" + text.split("branch ")[1].split(";")[0]).strip()
            == "Change a"
        )
        assert evil.auth_headers == [] and not marker.exists()
        pull = forge.forge.pulls[0]
        assert (pull.project, pull.body) == ("team/app", "Body text")

        # a second call updates the same branch and pull request
        (repo / "a.txt").write_text("c\n")
        git(repo, "-c", "core.fsmonitor=false", "commit", "-qam", "Change a again")  # the test's own git
        again = await opener.open_pull_request("app", "Change a", "Body text 2", None, False)
        assert "updated pull request #1" in again and len(forge.forge.pulls) == 1
        assert forge.forge.pulls[0].body == "Body text 2"


async def test_refusals(api: ApiEnv, tmp_path: Path) -> None:
    with GitHttpServer(tmp_path / "git", TOKEN) as git_server, ForgeServer(TOKEN) as forge:
        git_server.create_repo("team/app", {"a.txt": "a\n"})
        opener, repo = await opener_for(api, git_server, forge)
        with pytest.raises(ToolError, match="no repository 'other/repo'"):
            await opener.open_pull_request("other/repo", "t", "b", None, False)
        (repo / "a.txt").write_text("b\n")
        git(repo, "commit", "-qam", "Change a")
        # a secret in the pull request's text is refused like one in the commits
        leaky_body = "Deployed with " + "ghp_" + "Vb8Nm2Qw4Er6Ty8Ui0Op2As4Df6Gh8Jk0Lz1X"
        with pytest.raises(ToolError, match="pull request title or body") as caught:
            await opener.open_pull_request("team/app", "t", leaky_body, None, False)
        assert "Vb8Nm2Qw4" not in str(caught.value)
        assert "codeyard/" not in git(git_server.root / "team" / "app.git", "branch", "--list")
        # the repository directory replaced by a link to somewhere else
        moved = repo.with_name("moved")
        repo.rename(moved)
        repo.symlink_to(moved)
        with pytest.raises(ToolError, match="replaced by a link"):
            await opener.open_pull_request("team/app", "t", "b", None, False)
        assert forge.forge.pulls == []


async def test_a_secret_in_an_intermediate_commit_is_refused_though_a_later_commit_removes_it(
    api: ApiEnv, tmp_path: Path
) -> None:
    leak = "ghp_" + "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6"
    with GitHttpServer(tmp_path / "git", TOKEN) as git_server, ForgeServer(TOKEN) as forge:
        bare = git_server.create_repo("team/app", {"a.txt": "a\n"})
        opener, repo = await opener_for(api, git_server, forge)
        (repo / "config.py").write_text(f'TOKEN = "{leak}"\n')
        git(repo, "add", "config.py")
        git(repo, "commit", "-qm", "Add config")
        leaky = git(repo, "rev-parse", "HEAD").strip()
        (repo / "config.py").write_text('TOKEN = os.environ["TOKEN"]\n')
        git(repo, "commit", "-qam", "Read the token from the environment")
        (repo / "b.txt").write_text("b\n")
        git(repo, "add", "b.txt")
        git(repo, "commit", "-qm", f"Add b\n\nThe old token was {leak[:-1]}Y, now revoked")
        noted = git(repo, "rev-parse", "HEAD").strip()
        assert git(repo, "diff", f"{leaky}~1", "HEAD", "--", "config.py").count(leak) == 0, "gone from the final diff"

        with pytest.raises(ToolError, match="nothing was pushed") as caught:
            await opener.open_pull_request("team/app", "Config", "Reads the token", None, False)

        message = str(caught.value)
        assert f"config.py:1 in commit {leaky[:12]} (GitHub Token)" in message, message
        assert f"commit message:3 in commit {noted[:12]} (GitHub Token)" in message, message
        assert "Qw3Er5Ty7" not in message
        assert "codeyard/" not in git(bare, "branch", "--list")
        assert forge.forge.pulls == []
