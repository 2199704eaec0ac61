"""Sessions really run: through the SDK, a real server process, the scripted model over HTTP, real git and
a real sandbox."""

import json
import secrets
import time
from pathlib import Path

import psutil
import pytest

from codeyard.sandbox import bwrap_available
from codeyard.sdk import Client, ConflictError
from tests.conftest import LiveServer
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import settled, wait_for

SLEEP = f"313.{secrets.randbelow(10**6):06d}"
"""The long command's ``sleep`` argument, unique to this run: the host's process table is searched for it,
and parallel test runs (other workers, other checkouts) must not find each other's."""


def tool_results(model: FakeModelServer, match: str) -> list[str]:
    """The tool results the server sent back to the model in the conversation whose task contains ``match``."""
    results: list[str] = []
    for request in model.requests_to("/v1/chat/completions"):
        messages = request.body["messages"]
        if any(m["role"] == "user" and match in str(m.get("content")) for m in messages):
            results = [str(m["content"]) for m in messages if m["role"] == "tool"]
    return results


def test_repo_task_edits_a_file_and_runs_the_tests(
    client: Client, runtime: LiveServer, model_server: FakeModelServer, calc_repo: Path
) -> None:
    model_server.add_script(
        "TASK-REPO",
        [
            Step.tool("run_command", {"command": "python3 test_calc.py", "cwd": "calc"}),
            Step.tool("edit_file", {"path": "calc/calc.py", "old": "return a - b", "new": "return a + b"}),
            Step.tool("run_command", {"command": "python3 test_calc.py", "cwd": "calc"}),
            Step.text("Fixed add(): it subtracted. The tests pass now."),
        ],
    )
    session = client.sessions.create(prompt="TASK-REPO: make the calc tests pass", repos=[str(calc_repo)])
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished"), done
    workspace = runtime.data_dir / "workspaces" / session.session_id
    assert (workspace / "calc" / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (calc_repo / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"  # the origin is untouched
    results = tool_results(model_server, "TASK-REPO")
    assert results[0].startswith("[exit code 1]") and "add(2, 3) gave -1" in results[0]
    assert results[2].startswith("[exit code 0]") and "all tests passed" in results[2]
    messages = client.sessions.messages(session.session_id).items
    assert [m.source for m in messages] == ["user", "devin"]
    assert messages[-1].message == "Fixed add(): it subtracted. The tests pass now."
    events = client.sessions.events(session.session_id).items
    kinds = {(e.category, e.event_type) for e in events}
    assert ("shell", "command_run") in kinds and ("file", "file_edited") in kinds
    assert [e.summary for e in events if e.category == "status"][-1] == "status is now exit/finished"


def test_waiting_for_user_then_a_message_resumes(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-ASK",
        [
            Step.tool("ask_user", {"question": "Which branch should I use?"}),
            Step.text("Using the release branch as you said."),
        ],
    )
    session = client.sessions.create(prompt="TASK-ASK: prepare the release")
    waiting = wait_for(client, session.session_id, settled)
    assert (waiting.status, waiting.status_detail) == ("running", "waiting_for_user")
    assert client.sessions.messages(session.session_id).items[-1].message == "Which branch should I use?"
    client.sessions.send_message(session.session_id, "release-2.0 please")
    done = wait_for(client, session.session_id, lambda s: s.status in {"exit", "error", "suspended"})
    assert (done.status, done.status_detail) == ("exit", "finished")
    texts = [(m.source, m.message) for m in client.sessions.messages(session.session_id).items]
    assert texts[1:] == [
        ("devin", "Which branch should I use?"),
        ("user", "release-2.0 please"),
        ("devin", "Using the release branch as you said."),
    ]
    # the reply reached the model as a user message after the question's tool result
    last = model_server.requests_to("/v1/chat/completions")[-1].body["messages"]
    assert last[-1] == {"role": "user", "content": "release-2.0 please"}


def test_a_finished_session_reopens_on_a_message(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-REOPEN", [Step.text("First answer."), Step.text("Second answer.")])
    session = client.sessions.create(prompt="TASK-REOPEN: answer twice")
    wait_for(client, session.session_id, settled)
    reopened = client.sessions.send_message(session.session_id, "one more thing")
    assert reopened.status in {"resuming", "running", "exit"}
    wait_for(
        client,
        session.session_id,
        lambda s: s.status == "exit" and len(client.sessions.messages(s.session_id).items) == 4,
    )
    assert [m.message for m in client.sessions.messages(session.session_id).items][-1] == "Second answer."


def test_terminate_kills_a_long_command(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-SLEEP", [Step.tool("run_command", {"command": f"sleep {SLEEP} & sleep {SLEEP}; wait"})]
    )
    session = client.sessions.create(prompt="TASK-SLEEP: wait a long time")
    wait_for(client, session.session_id, lambda s: s.status == "running")
    deadline = time.monotonic() + 20
    while not _sleepers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleepers(), "the command never started"
    stopped = client.sessions.terminate(session.session_id)
    assert (stopped.status, stopped.status_detail) == ("exit", "user_request")
    deadline = time.monotonic() + 2.5
    while _sleepers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _sleepers(), "the command survived termination"
    try:
        client.sessions.send_message(session.session_id, "continue")
    except ConflictError as exc:
        assert "terminated" in str(exc)
    else:
        raise AssertionError("a terminated session took a message")


def _sleepers() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if cmdline[:2] == ["sleep", SLEEP]:
            found.append(proc)
    return found


def test_the_acu_budget_suspends_the_session(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-BUDGET", [Step.tool("run_command", {"command": "sleep 0.5"})] * 20)
    session = client.sessions.create(prompt="TASK-BUDGET: keep working", max_acu_limit=0.001)  # 0.9 s of work
    done = wait_for(client, session.session_id, lambda s: s.status in {"exit", "error", "suspended"})
    assert (done.status, done.status_detail) == ("suspended", "usage_limit_exceeded")
    assert done.acus_consumed >= 0.001
    assert "limit" in client.sessions.messages(session.session_id).items[-1].message


def test_model_errors_are_retried_then_the_session_recovers(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-FLAKY",
        [Step.error(500, "upstream exploded"), Step.error(429, "slow down", retry_after=0), Step.text("Recovered.")],
    )
    session = client.sessions.create(prompt="TASK-FLAKY: say something")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    assert client.sessions.messages(session.session_id).items[-1].message == "Recovered."


def test_a_model_that_keeps_failing_ends_in_error(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-DOWN", [Step.error(503, "down", retry_after=0)] * 10)
    session = client.sessions.create(prompt="TASK-DOWN: say something")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("error", "error")
    last = client.sessions.messages(session.session_id).items[-1]
    assert last.source == "devin" and "model" in last.message and "attempts" in last.message


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot start here: the fallback does not isolate")
def test_sandbox_probes(client: Client, runtime: LiveServer, model_server: FakeModelServer) -> None:
    data_dir = runtime.data_dir
    probe = (
        "import os, socket\n"
        f"print('datadir', os.path.exists({str(data_dir)!r}))\n"
        "print('secret_env', 'CODEYARD_SECRET_KEY' in os.environ, 'CODEYARD_MODEL_API_KEY' in os.environ)\n"
        "s = socket.socket()\ns.settimeout(2)\n"
        f"print('net', s.connect_ex(('127.0.0.1', {runtime.url.rsplit(':', 1)[1]})))\n"
    )
    model_server.add_script(
        "TASK-PROBE",
        [
            Step.tool("write_file", {"path": "probe.py", "content": probe}),
            Step.tool("run_command", {"command": "python3 probe.py; touch /usr/codeyard-probe; echo touch=$?"}),
            Step.tool("read_file", {"path": "../../secret_key"}),
            Step.text("probed"),
        ],
    )
    session = client.sessions.create(prompt="TASK-PROBE: look around")
    wait_for(client, session.session_id, settled)
    results = tool_results(model_server, "TASK-PROBE")
    out = results[1]
    assert "datadir False" in out
    assert "secret_env False False" in out
    assert "net 0" not in out  # the server's port is not reachable without network
    assert "touch=1" in out and not Path("/usr/codeyard-probe").exists()
    assert results[2].startswith("error:") and "outside the workspace" in results[2]


def test_a_context_overflow_condenses_the_history_instead_of_failing(
    client: Client, model_server: FakeModelServer
) -> None:
    overflow = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    model_server.add_script(
        "TASK-LONG",
        [
            *[Step.tool("run_command", {"command": f"seq 1 4000 # {i}"}) for i in range(6)],
            Step.error(400, overflow),
            Step.text("Summarised."),
        ],
    )
    session = client.sessions.create(prompt="TASK-LONG read a lot of output")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    bodies = [
        r.body["messages"]
        for r in model_server.requests_to("/v1/chat/completions")
        if any("TASK-LONG" in str(m.get("content")) for m in r.body["messages"])
    ]
    # (which scripted step answers a condensed conversation is the fake's business: it counts assistant turns)
    refused = next(b for b in bodies if len(b) == 14)  # system, task, 6 x (call, result): the one refused
    retried = bodies[bodies.index(refused) + 1]
    assert len(json.dumps(retried)) < len(json.dumps(refused)) / 2
    assert "condensed" in retried[1]["content"]
