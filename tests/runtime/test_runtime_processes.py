"""Session runs that need a server of their own: a crash and restart, the Anthropic provider, no model."""

import os
import secrets
import signal
import time
from pathlib import Path

import psutil
import pytest

from codeyard.sandbox import bwrap_available
from codeyard.sdk import Client
from tests.conftest import start_server, stop_server
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import runtime_env, settled, wait_for

SLEEP = f"317.{secrets.randbelow(10**6):06d}"
"""The long command's ``sleep`` argument, unique to this run: the host's process table is searched for it,
and parallel test runs (other workers, other checkouts) must not find each other's."""


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot start here: commands outlive a killed server")
def test_kill_9_during_a_session_then_restart_resumes_it(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-CRASH",
        [
            Step.tool("message_user", {"message": "Starting the long step."}),
            Step.tool("run_command", {"command": f"sleep {SLEEP}"}),
            Step.text("Finished after the restart."),
        ],
    )
    data = tmp_path / "data"
    server = start_server(data, runtime_env(model_server))
    try:
        with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
            session = client.sessions.create(prompt="TASK-CRASH: a long job")
            deadline = time.monotonic() + 30
            while not _sleepers() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _sleepers(), "the long command never started"
    finally:
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
    deadline = time.monotonic() + 5
    while _sleepers() and time.monotonic() < deadline:  # --die-with-parent takes the sandbox down too
        time.sleep(0.05)
    assert not _sleepers()

    restarted = start_server(data, runtime_env(model_server))
    try:
        with Client(base_url=restarted.url, api_key=restarted.org_key, org_id=restarted.org_id) as client:
            done = wait_for(client, session.session_id, settled, timeout=60)
            assert (done.status, done.status_detail) == ("exit", "finished")
            messages = [(m.source, m.message) for m in client.sessions.messages(session.session_id).items]
            assert messages == [
                ("user", "TASK-CRASH: a long job"),
                ("devin", "Starting the long step."),
                ("devin", "Finished after the restart."),
            ]
            events = client.sessions.events(session.session_id).items
            assert "runner_lost" in [e.event_type for e in events]
            lost = next(e for e in events if e.event_type == "runner_lost")
            assert lost.summary == f"the server restarted; resumed at step {lost.details['resumed_at_step']}"
            interrupted = next(e for e in events if e.event_type == "tool_interrupted")
            assert interrupted.details["command"] == f"sleep {SLEEP}" and f"sleep {SLEEP}" in (
                interrupted.summary or ""
            )
    finally:
        stop_server(restarted)
    # the model saw each step once, and the interrupted command's result says what happened
    bodies = [
        r.body["messages"]
        for r in model_server.requests_to("/v1/chat/completions")
        if any("TASK-CRASH" in str(m.get("content")) for m in r.body["messages"])
    ]
    last = bodies[-1]
    assert [m["role"] for m in last[1:]] == ["user", "assistant", "tool", "assistant", "tool"]
    assert "server stopped" in last[-1]["content"]


def _sleepers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if (p.info.get("cmdline") or [])[:2] == ["sleep", SLEEP]]


def test_a_session_on_the_anthropic_provider(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-CLAUDE",
        [
            Step.tool("write_file", {"path": "notes.txt", "content": "hello from claude"}),
            Step.tool("attach_file", {"path": "notes.txt"}),
            Step.text("Wrote and attached notes.txt."),
        ],
    )
    env = runtime_env(
        model_server, CODEYARD_MODEL="anthropic:scripted", CODEYARD_MODEL_BASE_URL=model_server.anthropic_base_url
    )
    server = start_server(tmp_path / "data", env)
    try:
        with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
            session = client.sessions.create(prompt="TASK-CLAUDE: write notes")
            done = wait_for(client, session.session_id, settled)
            assert (done.status, done.status_detail) == ("exit", "finished")
            files = client.sessions.attachments(session.session_id)
            assert [(f.name, f.source) for f in files] == [("notes.txt", "devin")]
            assert client.attachments.download(files[0].url) == b"hello from claude"
    finally:
        stop_server(server)
    assert model_server.requests_to("/v1/messages"), "the Anthropic Messages endpoint was never called"


def test_no_model_configured_fails_in_plain_words(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"CODEYARD_SCHEDULER_ENABLED": "false"})
    try:
        with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
            session = client.sessions.create(prompt="anything")
            done = wait_for(client, session.session_id, settled)
            assert (done.status, done.status_detail) == ("error", "error")
            last = client.sessions.messages(session.session_id).items[-1]
            assert last.source == "devin" and "no model is configured" in last.message
            assert "CODEYARD_MODEL " in last.message and "CODEYARD_MODEL_BASE_URL" in last.message
        warning = next(line for line in server.log().splitlines() if "no model is configured" in line)
        assert "warning" in warning and "CODEYARD_MODEL_BASE_URL" in warning
    finally:
        stop_server(server)
