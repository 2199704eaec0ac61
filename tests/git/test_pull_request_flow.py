"""A session on a connected host, end to end: real ``codeyard serve``, real git over smart HTTP with basic auth,
the scripted forge and the scripted model. The agent commits and calls ``open_pull_request``."""

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from codeyard.sdk import AsyncClient, Client
from tests.conftest import REPO, LiveServer, start_server, stop_server
from tests.fakes.forge_server import ForgeServer
from tests.fakes.git_http import GitHttpServer
from tests.fakes.model_server import FakeModelServer, Step
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.runtime.conftest import runtime_env, settled, wait_for

TOKEN = "ghp_" + "Zq7Xw3Vt9Rp2Lm8Kj4Hg6Fd1Sa5Qe0Yu7Io3Pa"
BASIC = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
CALC = {"calc.py": "def add(a, b):\n    return a - b\n", "README.md": "# app\n"}
FIX_AND_COMMIT = "sed -i 's/a - b/a + b/' calc.py && git add -A && git commit -qm 'Fix add: it subtracted'"


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path_factory.mktemp("git-http"), TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def forge() -> Iterator[ForgeServer]:
    with ForgeServer(TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    model_server: FakeModelServer,
    git_server: GitHttpServer,
    forge: ForgeServer,
) -> Iterator[LiveServer]:
    env = runtime_env(
        model_server,
        CODEYARD_GIT_BASE_URL=git_server.url,
        CODEYARD_CLONE_ALLOW_PRIVATE="true",
        CODEYARD_PR_REFRESH_SECONDS="1",
        CODEYARD_GIT_AUTHOR="Agent Smith <agent@example.com>",
        CODEYARD_WEBHOOK_ALLOW_PRIVATE="true",
    )
    live = start_server(tmp_path_factory.mktemp("pr-flow") / "data", env)
    answer = httpx2.post(
        f"{live.url}/v3/organizations/git-connections",
        headers={"Authorization": f"Bearer {live.org_key}"},
        json={"host": git_server.host, "kind": "github", "api_url": f"{forge.url}/github", "token": TOKEN},
    )
    assert answer.status_code == 200, answer.text
    yield live
    stop_server(live)


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as c:
        yield c


def git(cwd: Path, *args: str) -> str:
    # A workspace belongs to the sandbox's uid when the tests run as root: name it safe for this read.
    command = ["git", "-c", f"safe.directory={cwd}", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def tool_results(model: FakeModelServer, match: str) -> list[str]:
    results: list[str] = []
    for request in model.requests_to("/v1/chat/completions"):
        messages = request.body["messages"]
        if any(m["role"] == "user" and match in str(m.get("content")) for m in messages):
            results = [str(m["content"]) for m in messages if m["role"] == "tool"]
    return results


def everything_stored(client: Client, server: LiveServer, session_id: str) -> str:
    events = client.sessions.events(session_id, first=200).items
    messages = client.sessions.messages(session_id, first=200).items
    return "\n".join([*(e.model_dump_json() for e in events), *(m.model_dump_json() for m in messages), server.log()])


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def test_a_session_opens_a_pull_request_that_is_tracked(
    client: Client,
    server: LiveServer,
    model_server: FakeModelServer,
    git_server: GitHttpServer,
    forge: ForgeServer,
    receiver: WebhookReceiver,
) -> None:
    hook = httpx2.post(
        f"{server.url}/v3/organizations/webhooks",
        headers={"Authorization": f"Bearer {server.org_key}"},
        json={"url": receiver.url, "event_types": ["session.pull_request"]},
    )
    assert hook.status_code == 200, hook.text
    receiver.secret = hook.json()["secret"]
    bare = git_server.create_repo("owner/app", CALC)
    model_server.add_script(
        "TASK-PR",
        [
            Step.tool("run_command", {"command": f"{FIX_AND_COMMIT} && env && cat .git/config", "cwd": "app"}),
            Step.tool("open_pull_request", {"repo": "owner/app", "title": "Fix add()", "body": "add() subtracted."}),
            Step.tool("open_pull_request", {"repo": "app", "title": "Fix add()", "body": "add() subtracted; fixed."}),
            Step.text("Opened the pull request."),
        ],
    )
    session = client.sessions.create(prompt="TASK-PR: fix add and open a PR", repos=["owner/app"])
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished"), done
    results = tool_results(model_server, "TASK-PR")
    assert results[0].startswith("[exit code 0]"), results[0]
    assert "opened pull request #1" in results[1], results[1]
    assert "updated pull request #1" in results[2], results[2]

    # the branch in the bare repository: the agent's commit on top of the seed, with the configured identity
    branch = f"codeyard/{session.session_id.removeprefix('devin-')[:8]}-fix-add"
    log = git(bare, "log", "--format=%an <%ae>|%s", branch)
    assert log.splitlines() == [
        "Agent Smith <agent@example.com>|Fix add: it subtracted",
        "Seed <seed@example.com>|seed",
    ]
    assert "a + b" in git(bare, "show", f"{branch}:calc.py")

    # one PR at the forge, updated by the second call, and on the session
    pull = forge.forge.pull("owner/app", branch)
    assert pull is not None and (pull.base, pull.body) == ("main", "add() subtracted; fixed.")
    assert len([p for p in forge.forge.pulls if p.project == "owner/app"]) == 1
    prs = client.sessions.get(session.session_id).pull_requests
    assert [(p.pr_state, (p.model_extra or {}).get("url") == p.pr_url) for p in prs] == [("open", True)]
    assert prs[0].pr_url.endswith("/owner/app/pull/1")
    events = client.sessions.events(session.session_id).items
    assert any(e.category == "git" and e.event_type == "pull_request_opened" for e in events)

    # the refresher notices the merge
    forge.forge.set_state("owner/app", pull.number, "merged")
    merged = wait_for(
        client, session.session_id, lambda s: bool(s.pull_requests) and s.pull_requests[0].pr_state == "merged"
    )
    assert merged.pull_requests[0].pr_state == "merged"

    # a signed session.pull_request webhook for the PR opened, and one for its merge
    def states(got: list[dict[str, Any]]) -> list[str]:
        return [r["body"]["data"]["pull_requests"][0]["pr_state"] for r in got]

    got = receiver.wait_for(lambda got: "merged" in states(got))
    assert {r["body"]["type"] for r in got} == {"session.pull_request"}
    assert states(got)[0] == "open"
    assert got[0]["body"]["data"]["session_id"] == session.session_id

    # the token is nowhere: sandbox env and .git/config (the first command printed both), events, messages, logs
    workspace = server.data_dir / "workspaces" / session.session_id
    assert TOKEN not in results[0] and "Authorization" not in results[0]
    assert TOKEN not in (workspace / "app" / ".git" / "config").read_text()
    assert git_server.host in (workspace / "app" / ".git" / "config").read_text()
    stored = everything_stored(client, server, session.session_id)
    assert TOKEN not in stored and BASIC not in stored
    assert f"Basic {BASIC}" in git_server.auth_headers  # it did travel, in the header only
    assert all(r.authorized for r in forge.forge.requests if "owner/app" in r.path)


def test_a_secret_in_the_commits_blocks_the_push(
    client: Client, server: LiveServer, model_server: FakeModelServer, git_server: GitHttpServer
) -> None:
    bare = git_server.create_repo("owner/leaky", CALC)
    leak = "AWS_SECRET_ACCESS_KEY=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq3X8aB1c9"
    model_server.add_script(
        "TASK-LEAK",
        [
            Step.tool(
                "run_command",
                {"command": f"echo '{leak}' > settings.env && git add -A && git commit -qm cfg", "cwd": "leaky"},
            ),
            Step.tool("open_pull_request", {"repo": "owner/leaky", "title": "Add config", "body": "config"}),
            Step.text("Blocked."),
        ],
    )
    session = client.sessions.create(prompt="TASK-LEAK: add config", repos=["owner/leaky"])
    wait_for(client, session.session_id, settled)
    result = tool_results(model_server, "TASK-LEAK")[1]
    assert result.startswith("error: nothing was pushed") and "settings.env" in result, result
    assert "wJalrXUtnFEMI" not in result
    assert "codeyard/" not in git(bare, "branch", "--list")
    assert client.sessions.get(session.session_id).pull_requests == []


def test_nothing_to_push_and_uncommitted_work_are_refused(
    client: Client, model_server: FakeModelServer, git_server: GitHttpServer
) -> None:
    git_server.create_repo("owner/idle", CALC)
    model_server.add_script(
        "TASK-IDLE",
        [
            Step.tool("open_pull_request", {"repo": "owner/idle", "title": "Nothing", "body": "-"}),
            Step.tool("run_command", {"command": "echo more >> README.md", "cwd": "idle"}),
            Step.tool("open_pull_request", {"repo": "idle", "title": "Dirty", "body": "-"}),
            Step.tool("open_pull_request", {"repo": "owner/unknown", "title": "Where", "body": "-"}),
            Step.text("Done."),
        ],
    )
    session = client.sessions.create(prompt="TASK-IDLE: try", repos=["owner/idle"])
    wait_for(client, session.session_id, settled)
    results = tool_results(model_server, "TASK-IDLE")
    assert results[0].startswith("error: nothing to push"), results[0]
    assert results[2].startswith("error: idle has uncommitted changes") and "README.md" in results[2], results[2]
    assert results[3].startswith("error: this session has no repository 'owner/unknown'"), results[3]


def test_a_refused_token_is_reported_in_plain_words(
    tmp_path: Path, client: Client, server: LiveServer, model_server: FakeModelServer
) -> None:
    with GitHttpServer(tmp_path / "other", "the-right-token") as other:
        other.create_repo("team/private", CALC)
        answer = httpx2.post(
            f"{server.url}/v3/organizations/git-connections",
            headers={"Authorization": f"Bearer {server.org_key}"},
            json={"host": other.host, "kind": "generic", "token": "a-wrong-token-value"},
        )
        assert answer.status_code == 200
        model_server.add_script("TASK-REFUSED", [Step.text("never")])
        session = client.sessions.create(prompt="TASK-REFUSED", repos=[f"{other.url}/team/private.git"])
        done = wait_for(client, session.session_id, settled)
        assert done.status == "error"
        messages = [m.message for m in client.sessions.messages(session.session_id).items]
        assert f"the git connection for {other.host} was refused: check its token" in messages[-1]
        assert other.auth_headers  # the wrong token was offered, in a header
        assert "a-wrong-token-value" not in everything_stored(client, server, session.session_id)
        httpx2.delete(
            f"{server.url}/v3/organizations/git-connections/{answer.json()['connection_id']}",
            headers={"Authorization": f"Bearer {server.org_key}"},
        )


def test_changes_bundle_and_patch(
    client: Client, server: LiveServer, model_server: FakeModelServer, git_server: GitHttpServer, tmp_path: Path
) -> None:
    bare = git_server.create_repo("owner/handback", CALC)
    model_server.add_script(
        "TASK-BACK",
        [
            Step.tool(
                "run_command",
                {"command": f"{FIX_AND_COMMIT} && echo wip >> README.md && echo new > notes.txt", "cwd": "handback"},
            ),
            Step.text("Committed the fix; notes are uncommitted."),
        ],
    )
    session = client.sessions.create(prompt="TASK-BACK: fix", repos=["owner/handback"])
    wait_for(client, session.session_id, settled)
    headers = {"Authorization": f"Bearer {server.org_key}"}
    base = f"{server.url}/v3/organizations/sessions/{session.session_id}/changes"
    changes = httpx2.get(base, headers=headers).json()
    item = changes["items"][0]
    seed = git(bare, "rev-parse", "main").strip()
    assert (item["repo"], item["base_sha"], item["uncommitted"]) == ("owner/handback", seed, True)
    assert [c["subject"] for c in item["commits"]] == ["Fix add: it subtracted"]
    assert item["diffstat"] == {"files_changed": 1, "insertions": 1, "deletions": 1}

    bundle = httpx2.get(f"{base}/0.bundle", headers=headers)
    assert bundle.status_code == 200
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    (tmp_path / "c.bundle").write_bytes(bundle.content)
    git(clone, "fetch", "-q", str(tmp_path / "c.bundle"), "refs/heads/codeyard:refs/heads/agent")
    assert git(clone, "log", "-1", "--format=%s", "agent").strip() == "Fix add: it subtracted"

    patch = httpx2.get(f"{base}/0.patch", headers=headers)
    assert patch.status_code == 200 and "+wip" in patch.text and "notes.txt" in patch.text
    for bad in ("1.bundle", "0.tar", "-1.patch", "..%2F0.patch", "99999999.bundle"):
        answer = httpx2.get(f"{base}/{bad}", headers=headers)
        assert answer.status_code == 404, (bad, answer.text)
    # the workspace itself was not changed by reading it
    assert "notes.txt" not in git(server.data_dir / "workspaces" / session.session_id / "handback", "ls-files")


def cli(server: LiveServer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.env(), "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "codeyard", "sessions", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


async def test_sessions_pull_and_diff_bring_the_work_home(
    client: Client, server: LiveServer, model_server: FakeModelServer, git_server: GitHttpServer, tmp_path: Path
) -> None:
    bare = git_server.create_repo("owner/home", CALC)
    model_server.add_script(
        "TASK-HOME",
        [
            Step.tool("run_command", {"command": f"{FIX_AND_COMMIT} && echo wip >> README.md", "cwd": "home"}),
            Step.text("Done."),
        ],
    )
    session = client.sessions.create(prompt="TASK-HOME: fix", repos=["owner/home"])
    wait_for(client, session.session_id, settled)
    async with AsyncClient(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as async_client:
        changes = await async_client.sessions.changes(session.session_id)
        assert changes.items[0].commits[0].subject == "Fix add: it subtracted"
        assert (await async_client.sessions.bundle(session.session_id, 0)).startswith(b"# v")
        assert b"+wip" in await async_client.sessions.patch(session.session_id, 0)

    clone = tmp_path / "home"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    shown = cli(server, clone, "diff", session.session_id)
    assert shown.returncode == 0, shown.stderr
    assert "-    return a - b" in shown.stdout and "+    return a + b" in shown.stdout and "+wip" in shown.stdout
    assert git(clone, "branch", "--list").strip() == "* main"  # diff changed no ref

    pulled = cli(server, clone, "pull", session.session_id, "--apply-patch")
    assert pulled.returncode == 0, pulled.stderr
    branch = f"codeyard/{session.session_id}"
    assert git(clone, "log", "-1", "--format=%s", branch).strip() == "Fix add: it subtracted"
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD").strip() == branch
    assert (clone / "README.md").read_text() == "# app\nwip\n"
    again = cli(server, clone, "pull", session.session_id, "--repo", "nope")
    assert again.returncode == 1 and "has no repository 'nope'" in again.stderr


@pytest.mark.parametrize(
    ("kind", "api_path", "web_part"),
    [("gitlab", "/gitlab", "/-/merge_requests/1"), ("gitea", "/gitea/api/v1", "/pulls/1")],
)
def test_gitlab_and_gitea_pull_requests(
    tmp_path: Path,
    client: Client,
    server: LiveServer,
    model_server: FakeModelServer,
    forge: ForgeServer,
    kind: str,
    api_path: str,
    web_part: str,
) -> None:
    token = f"{kind}-token-" + "Xc4Vb6Nm8Qw2Er"
    with GitHttpServer(tmp_path / kind, token) as host:
        bare = host.create_repo(f"{kind}-team/app", CALC)
        connection = httpx2.post(
            f"{server.url}/v3/organizations/git-connections",
            headers={"Authorization": f"Bearer {server.org_key}"},
            json={"host": host.host, "kind": kind, "api_url": f"{forge.url}{api_path}", "token": token},
        )
        assert connection.status_code == 200
        forge.forge.token = token
        try:
            marker = f"TASK-{kind.upper()}"
            model_server.add_script(
                marker,
                [
                    Step.tool("run_command", {"command": FIX_AND_COMMIT, "cwd": "app"}),
                    Step.tool(
                        "open_pull_request", {"repo": "app", "title": "Fix add", "body": f"via {kind}", "draft": True}
                    ),
                    Step.text("Done."),
                ],
            )
            session = client.sessions.create(prompt=f"{marker}: fix", repos=[f"{host.url}/{kind}-team/app.git"])
            wait_for(client, session.session_id, settled)
            result = tool_results(model_server, marker)[1]
            assert "opened pull request #1" in result, result
            branch = f"codeyard/{session.session_id.removeprefix('devin-')[:8]}-fix-add"
            assert git(bare, "log", "-1", "--format=%s", branch).strip() == "Fix add: it subtracted"
            pull = forge.forge.pull(f"{kind}-team/app", branch)
            assert pull is not None and pull.body == f"via {kind}" and pull.draft
            prs = client.sessions.get(session.session_id).pull_requests
            assert prs[0].pr_url.endswith(f"/{kind}-team/app{web_part}") and prs[0].pr_state == "open"
            assert token not in everything_stored(client, server, session.session_id)
        finally:
            forge.forge.token = TOKEN
