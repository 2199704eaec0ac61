"""``codeyard handoff`` end to end: the CLI sends a real work tree to a real server, and the session's workspace
holds exactly that tree (unpushed commits, edits, renames, untracked and binary files) before the agent starts."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeyard.sdk import Client
from tests.conftest import LiveServer, start_server, stop_server
from tests.fakes.model_server import FakeModelServer, Step
from tests.handoff.repos import git, make_local_work, tree_snapshot


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def server(tmp_path: Path, model: FakeModelServer) -> Iterator[LiveServer]:
    env = {
        "CODEYARD_MODEL": "openai:scripted",
        "CODEYARD_MODEL_BASE_URL": model.base_url,
        "CODEYARD_MODEL_API_KEY": "k",
        "CODEYARD_SCHEDULER_ENABLED": "false",
    }
    live = start_server(tmp_path / "data", env)
    yield live
    stop_server(live)


def test_the_workspace_is_the_users_work_tree(work: Path, server: LiveServer, model: FakeModelServer) -> None:
    make_local_work(work)
    model.add_script(
        "TASK-HANDOFF",
        [
            Step.tool("run_command", {"command": "git -C remote log --format=%s && git -C remote status --short"}),
            Step.text("I see your work."),
        ],
    )
    env = {**os.environ, **server.env()}
    done = subprocess.run(
        [sys.executable, "-m", "codeyard", "handoff", "TASK-HANDOFF continue the feature", "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert server.org_key not in done.stdout + done.stderr
    session_id = json.loads(done.stdout)["session_id"]
    with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
        deadline = time.monotonic() + 60
        while (s := client.sessions.get(session_id)).status not in ("exit", "error"):
            assert time.monotonic() < deadline, s
            time.sleep(0.1)
        assert (s.status, s.status_detail) == ("exit", "finished"), client.sessions.messages(session_id).items[-1]
    repo = server.data_dir / "workspaces" / session_id / "remote"
    expected = {k: v for k, v in tree_snapshot(work).items() if k != "debug.log" and not k.startswith("build/")}
    assert tree_snapshot(repo) == expected
    # A root server hands the workspace to the sandbox's uid, so git run here as root must be told to trust it.
    trusted = ("-c", f"safe.directory={repo}")
    assert git(repo, *trusted, "log", "--format=%s") == git(work, "log", "--format=%s")
    assert git(repo, *trusted, "rev-parse", "HEAD") == git(work, "rev-parse", "HEAD")
    seen = next(m for m in model.requests_to("/v1/chat/completions")[-1].body["messages"] if m["role"] == "tool")
    assert "tune feature\nadd feature\ninitial" in seen["content"]
    system = model.requests_to("/v1/chat/completions")[-1].body["messages"][0]["content"]
    assert "unpushed commit" in system  # the prompt says what was applied
    where = f"{server.data_dir / 'workspaces' / session_id / 'remote'}/"
    assert f"the repository with their work tree is {where} " in system or "work tree is /workspace/remote/ " in system
