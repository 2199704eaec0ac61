"""The sandbox's limits through a real session: a real server, the scripted model, real bubblewrap."""

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from codeyard.sandbox.egress import egress_problem
from codeyard.sandbox.ownership import resolve_identity
from codeyard.sdk import Client
from tests.conftest import LiveServer, start_server, stop_server
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import runtime_env, settled, wait_for

pytestmark = pytest.mark.usefixtures("bwrap")
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, model_server: FakeModelServer) -> Iterator[LiveServer]:
    problem = egress_problem()
    if problem is not None:
        pytest.skip(f"the filtered network cannot be set up here: {problem}")
    settings = {"CODEYARD_SANDBOX_NETWORK": "true", "CODEYARD_WORKSPACE_MAX_BYTES": str(2 * MIB)}
    server = start_server(tmp_path_factory.mktemp("sandboxed") / "data", runtime_env(model_server, **settings))
    yield server
    stop_server(server)


def tool_results(model: FakeModelServer, match: str) -> list[str]:
    results: list[str] = []
    for request in model.requests_to("/v1/chat/completions"):
        messages = request.body["messages"]
        if any(m["role"] == "user" and match in str(m.get("content")) for m in messages):
            results = [str(m["content"]) for m in messages if m["role"] == "tool"]
    return results


def test_a_session_with_the_network_cannot_reach_the_api_nor_fill_the_disk(
    runtime: LiveServer, model_server: FakeModelServer
) -> None:
    api_port = urlsplit(runtime.url).port
    model_server.add_script(
        "TASK-SANDBOX",
        [
            Step.tool("run_command", {"command": f"exec 3<>/dev/tcp/127.0.0.1/{api_port} && echo reached-the-api"}),
            Step.tool("run_command", {"command": f"head -c {3 * MIB} /dev/urandom > big.bin"}),
            Step.tool("run_command", {"command": "rm big.bin; touch made-here"}),
            Step.text("Done."),
        ],
    )
    with Client(base_url=runtime.url, api_key=runtime.org_key, org_id=runtime.org_id) as client:
        session = client.sessions.create(prompt="TASK-SANDBOX: probe the sandbox")
        done = wait_for(client, session.session_id, settled)

    assert (done.status, done.status_detail) == ("exit", "finished"), done
    api, filled, cleaned = tool_results(model_server, "TASK-SANDBOX")
    assert "reached-the-api" not in api
    assert "Connection refused" in api
    assert "[error: the workspace now holds" in filled
    assert "over its limit of 2.0 MiB" in filled
    assert cleaned.startswith("[exit code 0]")
    assert "[error:" not in cleaned
    made = (runtime.data_dir / "workspaces" / session.session_id / "made-here").stat()
    if os.geteuid() == 0:
        assert made.st_uid == resolve_identity().uid != 0
