"""Following a session live against a real server with scripted sessions: the SDK's ``sessions.stream`` (sync and
async, resuming after a dropped connection), ``sessions.wait`` and ``create(wait=True)``; ``codeyard sessions watch``
and ``sessions events``."""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeyard.cli.main import app
from codeyard.sdk import APITimeoutError, AsyncClient, Client, NotFoundError
from codeyard.sdk._sse import SSEDecoder
from tests.conftest import LiveServer, start_server, stop_server
from tests.fakes.dropping_proxy import DroppingProxy
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import runtime_env

SCRIPT = [
    Step.tool("run_command", {"command": "echo first; echo second"}),
    Step.tool("write_file", {"path": "a.txt", "content": "one\n"}),
    Step.tool("message_user", {"message": "Working on it."}),
    Step.text("The answer is 42."),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_server: FakeModelServer) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path_factory.mktemp("sdk-stream") / "data", runtime_env(model_server, CODEYARD_STREAM_HEARTBEAT="0.5")
    )
    yield live
    stop_server(live)


def client_of(server: LiveServer, url: str | None = None) -> Client:
    return Client(base_url=url or server.url, api_key=server.org_key, org_id=server.org_id)


def test_the_decoder_follows_the_sse_framing() -> None:
    decoder = SSEDecoder()
    lines = [": ping", "id: 0", "", "id: e1", "event: user_message", 'data: {"a":', "data: 1}", "", "data:x", ""]
    messages = list(decoder.decode(lines))
    assert [(m.event, m.data, m.id) for m in messages] == [
        ("user_message", '{"a":\n1}', "e1"),
        ("message", "x", "e1"),
    ]
    assert decoder.last_event_id == "e1"
    assert list(decoder.decode(["id: e2", "event: cut", "data: {"])) == []  # the connection dropped here
    assert decoder.last_event_id == "e1", "an incomplete message is no resume point"
    assert not decoder.cut
    fresh = SSEDecoder("e1")
    assert list(fresh.decode([": cut: this client fell behind", ""])) == [] and fresh.cut
    assert fresh.last_event_id == "e1"


def test_create_with_wait_returns_the_finished_session_and_the_reply(
    server: LiveServer, model_server: FakeModelServer
) -> None:
    model_server.add_script("TASK-SDK-WAIT", SCRIPT)
    with client_of(server) as client:
        session = client.sessions.create(prompt="TASK-SDK-WAIT: answer", wait=True)
        assert (session.status, session.status_detail) == ("exit", "finished")
        reply = client.sessions.messages(session.session_id).items[-1]
        assert (reply.source, reply.message) == ("devin", "The answer is 42.")
        # already there: returns at once, whatever `until` form
        assert client.sessions.wait(session.session_id, until="finished").status_detail == "finished"
        assert client.sessions.wait(session.session_id, until=lambda s: s.status == "exit").status == "exit"


def test_stream_resumes_after_a_dropped_connection_without_gap_or_duplicate(
    server: LiveServer, model_server: FakeModelServer
) -> None:
    model_server.add_script("TASK-SDK-DROP", SCRIPT)
    with client_of(server) as direct:
        sid = direct.sessions.create(prompt="TASK-SDK-DROP: answer").session_id
        direct.sessions.wait(sid)
        stored = [e.event_id for e in direct.sessions.iter_events(sid)]
    host, port = server.url.removeprefix("http://").split(":")
    with DroppingProxy(host, int(port), drop_after=[1200, 1000]) as proxy, client_of(server, proxy.url) as client:
        streamed = list(client.sessions.stream(sid))
    assert [e.event_id for e in streamed] == stored
    assert streamed[-1].details == {"status": "exit", "status_detail": "finished"}
    assert len(proxy.requests) >= 3, "two drops, then a connection that reached the end"
    resumed = proxy.requests[1].decode(errors="replace").lower()
    assert "last-event-id: event-" in resumed


def test_wait_for_a_question_and_the_timeout(server: LiveServer, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-SDK-ASK",
        [Step.tool("ask_user", {"question": "Which branch?"}), Step.delay(30), Step.text("Done on main.")],
    )
    with client_of(server) as client:
        sid = client.sessions.create(prompt="TASK-SDK-ASK: deploy").session_id
        waiting = client.sessions.wait(sid, until="waiting_for_user", timeout=60)
        assert waiting.status_detail == "waiting_for_user"
        client.sessions.send_message(sid, "main")
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.sessions.wait(sid, until=["finished", "error"], timeout=1.5)
        assert time.monotonic() - started < 20
        client.sessions.terminate(sid)
        assert client.sessions.wait(sid).status == "exit"
        with pytest.raises(NotFoundError):
            list(client.sessions.stream("devin-" + "0" * 32))


async def test_async_stream_and_wait(server: LiveServer, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-SDK-ASYNC", SCRIPT)
    async with AsyncClient(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
        session = await client.sessions.create(prompt="TASK-SDK-ASYNC: answer")
        seen = [event async for event in client.sessions.stream(session.session_id)]
        done = await client.sessions.wait(session.session_id, until="finished")
        stored = [e.event_id async for e in client.sessions.iter_events(session.session_id)]
    assert [e.event_id for e in seen] == stored
    commands = [e.details for e in seen if e.event_type == "command_run"]
    assert commands[0]["command"] == "echo first; echo second" and commands[0]["output"] == "first\nsecond\n"
    assert done.status_detail == "finished"


def test_cli_watch_shows_steps_live_and_exits_by_outcome(
    server: LiveServer, model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    model_server.add_script(
        "TASK-CLI-WATCH",
        [
            Step.delay(1.0),
            Step.tool("run_command", {"command": "for i in 1 2 3 4 5 6 7; do echo line-$i; done"}),
            Step.tool("write_file", {"path": "app.py", "content": "x = 1\n"}),
            Step.tool("edit_file", {"path": "app.py", "old": "x = 1", "new": "x = 2"}),
            Step.text("Changed x to 2."),
        ],
    )
    model_server.add_script("TASK-CLI-BROKEN", [Step.error(400, "the model refuses")])
    runner = CliRunner()
    with client_of(server) as client:
        sid = client.sessions.create(prompt="TASK-CLI-WATCH: change x").session_id
        broken = client.sessions.create(prompt="TASK-CLI-BROKEN: anything").session_id

    watched = runner.invoke(app, ["sessions", "watch", sid])
    assert watched.exit_code == 0, watched.output
    out = watched.stdout
    assert "user: TASK-CLI-WATCH: change x" in out
    assert "$ for i in 1 2 3 4 5 6 7; do echo line-$i; done" in out
    assert "| line-5" in out and "| line-6" not in out and "| … 2 more lines" in out
    assert "→ exit 0 in" in out
    assert "edited app.py" in out and "-x = 1" in out and "+x = 2" in out
    assert "devin: Changed x to 2." in out
    assert out.index("$ for i") < out.index("edited app.py") < out.index("devin: Changed x to 2.")
    assert out.splitlines()[-1] == f"session {sid} is exit (finished)"

    failed = runner.invoke(app, ["sessions", "watch", broken])
    assert failed.exit_code == 1, failed.output
    assert failed.stdout.splitlines()[-1] == f"session {broken} is error (error)"

    listed = runner.invoke(app, ["sessions", "events", sid, "--json", "--type", "command_run"])
    assert listed.exit_code == 0, listed.output
    (command,) = json.loads(listed.stdout)
    assert command["details"]["exit_code"] == 0 and command["details"]["output"].startswith("line-1\n")
    table = runner.invoke(app, ["sessions", "events", sid])
    assert "file_edited" in table.stdout and "status_changed" in table.stdout


def test_stream_resumes_after_the_server_cuts_a_client_that_fell_behind(tmp_path: Path) -> None:
    """With room for one event per client, terminating a session (two events in one transaction) cuts its stream;
    the SDK reconnects with ``Last-Event-ID`` and still sees both events, once."""
    server = start_server(
        tmp_path / "data",
        {
            "CODEYARD_RUNNER_ENABLED": "false",
            "CODEYARD_SCHEDULER_ENABLED": "false",
            "CODEYARD_STREAM_QUEUE_SIZE": "1",
            "CODEYARD_STREAM_HEARTBEAT": "1",
        },
    )
    try:
        with client_of(server) as direct:
            sid = direct.sessions.create(prompt="wait in the queue").session_id
            last = [e.event_id for e in direct.sessions.iter_events(sid)][-1]
        host, port = server.url.removeprefix("http://").split(":")
        with DroppingProxy(host, int(port), drop_after=[]) as proxy, client_of(server, proxy.url) as client:
            streamed: list[str] = []
            follower = threading.Thread(
                target=lambda: streamed.extend(e.event_type for e in client.sessions.stream(sid, last_event_id=last))
            )
            follower.start()
            deadline = time.monotonic() + 30
            while not proxy.responses or b": ping" not in proxy.responses[0]:  # subscribed a second ago
                assert time.monotonic() < deadline, "no heartbeat"
                time.sleep(0.05)
            with client_of(server) as direct:
                direct.sessions.terminate(sid)
            follower.join(60)
        assert not follower.is_alive()
        assert streamed == ["status_changed", "session_terminated"]
        sent = b"".join(proxy.requests).lower().split(b"get /v3/")[1:]  # the connection may be reused
        assert len(sent) >= 2, "the stream was cut and resumed"
        assert b": cut" in b"".join(proxy.responses)
        assert f"last-event-id: {last}".encode() in sent[0] and b"last-event-id: event-" in sent[1]
    finally:
        stop_server(server)
