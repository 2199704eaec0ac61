"""Live streams (contract §10) over real HTTP connections to ``codeyard serve``, with sessions driven by the
scripted model: every step in order with its details, replay after ``Last-Event-ID`` with no gap and no
duplicate, heartbeats, two processes on one SQLite file, a client cut when it falls behind."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from codeyard.sdk import Client
from tests.conftest import REPO, LiveServer, start_server, stop_server
from tests.databases import database_url_for
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import runtime_env, settled, wait_for


@dataclass
class Sse:
    id: str | None
    event: str | None
    data: str | None

    @property
    def json(self) -> dict[str, Any]:
        assert self.data is not None
        loaded: dict[str, Any] = json.loads(self.data)
        return loaded


def sse_messages(response: httpx2.Response, comments: list[str] | None = None, timeout: float = 90) -> Iterator[Sse]:
    """The messages of an event stream, field by field as the SSE spec frames them (comments collected apart).

    The servers of these tests send heartbeats often, so a stream that never ends fails here instead of hanging."""
    deadline = time.monotonic() + timeout
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        assert time.monotonic() < deadline, "the stream did not end"
        if line == "":
            if fields:
                yield Sse(fields.get("id"), fields.get("event"), fields.get("data"))
            fields = {}
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line)
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value


def read(
    server: LiveServer, path: str, *, headers: dict[str, str] | None = None, limit: int | None = None, **params: str
) -> list[Sse]:
    """The messages of one connection, until the server ends the stream (or ``limit`` messages arrived)."""
    got: list[Sse] = []
    with (
        httpx2.Client(base_url=server.url, timeout=60) as http,
        http.stream(
            "GET", path, headers={"Authorization": f"Bearer {server.org_key}", **(headers or {})}, params=params
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for message in sse_messages(response):
            got.append(message)
            if limit is not None and len(got) >= limit:
                break
    return got


def all_events(server: LiveServer, session_id: str) -> list[dict[str, Any]]:
    with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
        items = client.sessions.events(session_id, first=200)
        assert not items.has_next_page
    response = httpx2.get(
        f"{server.url}/v3/organizations/{server.org_id}/sessions/{session_id}/events",
        params={"first": 200},
        headers={"Authorization": f"Bearer {server.org_key}"},
    )
    events: list[dict[str, Any]] = response.json()["items"]
    return events


SCRIPT = [
    Step.tool("run_command", {"command": "echo out-line-1; echo out-line-2; exit 3"}),
    Step.tool("write_file", {"path": "notes.txt", "content": "alpha\nbeta\n"}),
    Step.tool("edit_file", {"path": "notes.txt", "old": "beta", "new": "gamma"}),
    Step.tool("message_user", {"message": "Halfway there."}),
    Step.tool("run_command", {"command": "python3 -c \"print('x' * 5000)\""}),
    Step.text("All done: notes.txt says alpha and gamma."),
]


@pytest.fixture(scope="module")
def streaming(tmp_path_factory: pytest.TempPathFactory, model_server: FakeModelServer) -> Iterator[LiveServer]:
    env = runtime_env(model_server, CODEYARD_STREAM_HEARTBEAT="0.3", CODEYARD_EVENT_DETAILS_MAX_CHARS="1000")
    server = start_server(tmp_path_factory.mktemp("streams") / "data", env)
    yield server
    stop_server(server)


def finished_session(server: LiveServer, model_server: FakeModelServer, tag: str) -> str:
    model_server.add_script(tag, SCRIPT)
    with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
        return client.sessions.create(prompt=f"{tag}: take notes").session_id


def test_session_stream_carries_every_step_with_details_then_ends(
    streaming: LiveServer, model_server: FakeModelServer
) -> None:
    sid = finished_session(streaming, model_server, "TASK-STREAM-ORDER")
    got = read(streaming, f"/v3/organizations/{streaming.org_id}/sessions/{sid}/stream")  # returns: the stream ended

    stored = all_events(streaming, sid)
    assert [m.json for m in got] == stored, "the stream carries exactly what GET …/events returns, in order"
    assert [m.id for m in got] == [e["event_id"] for e in stored]
    assert [m.event for m in got] == [e["event_type"] for e in stored]
    last = got[-1].json
    assert last["event_type"] == "status_changed" and last["details"] == {"status": "exit", "status_detail": "finished"}

    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in stored:
        by_type.setdefault(event["event_type"], []).append(event["details"])
    first_command, long_command = by_type["command_run"]
    assert first_command["command"] == "echo out-line-1; echo out-line-2; exit 3"
    assert first_command["exit_code"] == 3 and "out-line-2" in first_command["output"]
    assert first_command["duration_s"] >= 0
    assert "characters cut" in long_command["output"] and long_command["truncated"] == ["output"]
    assert len(long_command["output"]) < 1200
    assert by_type["file_created"][0]["path"] == "notes.txt" and "+beta" in by_type["file_created"][0]["diff"]
    edited = by_type["file_edited"][0]
    assert edited["path"] == "notes.txt" and "-beta" in edited["diff"] and "+gamma" in edited["diff"]
    messages = [d["message"] for d in by_type["devin_message"]]
    assert messages == ["Halfway there.", "All done: notes.txt says alpha and gamma."]
    assert by_type["user_message"][0]["message"].startswith("TASK-STREAM-ORDER")


def test_reconnect_with_last_event_id_has_no_gap_and_no_duplicate(
    streaming: LiveServer, model_server: FakeModelServer
) -> None:
    sid = finished_session(streaming, model_server, "TASK-STREAM-RESUME")
    path = f"/v3/organizations/{streaming.org_id}/sessions/{sid}/stream"
    first = read(streaming, path, limit=3)  # the client drops the connection after three events
    second = read(streaming, path, headers={"Last-Event-ID": str(first[-1].id)}, limit=4)
    third = read(streaming, path, last_event_id=str(second[-1].id))  # the query form, to the end
    ids = [m.id for m in first + second + third]
    assert len(ids) == len(set(ids)), "no duplicate"
    assert ids == [e["event_id"] for e in all_events(streaming, sid)], "no gap"


def test_streams_send_heartbeats_and_follow_a_session_live(
    streaming: LiveServer, model_server: FakeModelServer
) -> None:
    """The org stream, opened before the session exists, shows its steps as they happen, between heartbeats."""
    model_server.add_script("TASK-STREAM-LIVE", [Step.delay(1.0), *SCRIPT])
    comments: list[str] = []
    got: list[Sse] = []
    with (
        httpx2.Client(base_url=streaming.url, timeout=60) as http,
        http.stream(
            "GET",
            f"/v3/organizations/{streaming.org_id}/stream",
            headers={"Authorization": f"Bearer {streaming.org_key}"},
        ) as response,
        Client(base_url=streaming.url, api_key=streaming.org_key, org_id=streaming.org_id) as client,
    ):
        messages = sse_messages(response, comments)
        opening = next(messages)
        assert opening.data is None and opening.id  # an id-only message: the resume point
        sid = client.sessions.create(prompt="TASK-STREAM-LIVE: take notes").session_id
        for message in messages:
            got.append(message)
            if message.event == "status_changed" and message.json["details"]["status"] == "exit":
                break
    assert any(c.startswith(": ping") for c in comments), "a heartbeat comment while the model was slow"
    assert [m.json for m in got] == all_events(streaming, sid)


def test_stream_errors_match_the_events_endpoint(streaming: LiveServer, model_server: FakeModelServer) -> None:
    sid = finished_session(streaming, model_server, "TASK-STREAM-ERRORS")
    with Client(base_url=streaming.url, api_key=streaming.enterprise_key) as admin:
        other = admin.organizations.create(name="stream-other")
    other_key = _org_key(streaming, other.org_id)
    path = f"/v3/organizations/{streaming.org_id}/sessions/{sid}/stream"
    with httpx2.Client(base_url=streaming.url, timeout=30) as http:
        assert http.get(path).status_code == 401
        assert http.get(path, headers={"Authorization": f"Bearer {other_key}"}).status_code == 403
        foreign = http.get(
            f"/v3/organizations/{other.org_id}/sessions/{sid}/stream", headers={"Authorization": f"Bearer {other_key}"}
        )
        assert foreign.status_code == 404 and foreign.headers["content-type"] == "application/problem+json"
        bad = http.get(path, headers={"Authorization": f"Bearer {streaming.org_key}", "Last-Event-ID": "evt-nope"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]
    # an event of another session is no cursor for this one
    sid2 = finished_session(streaming, model_server, "TASK-STREAM-ERRORS-2")
    wait_for(_client(streaming), sid2, settled)
    other_event = all_events(streaming, sid2)[0]["event_id"]
    with httpx2.Client(base_url=streaming.url, timeout=30) as http:
        crossed = http.get(
            path, headers={"Authorization": f"Bearer {streaming.org_key}"}, params={"last_event_id": other_event}
        )
        assert crossed.status_code == 400


def _client(server: LiveServer) -> Client:
    return Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id)


def _org_key(server: LiveServer, org_id: str) -> str:
    """An org-admin key of ``org_id``, provisioned the way an operator does it (``codeyard admin``)."""
    env = {**os.environ, "CODEYARD_SECRET_KEY": "live-test-secret", "PYTHONPATH": str(REPO / "src")}
    database_url = database_url_for(server.data_dir)
    if database_url:  # the suite on PostgreSQL: the server's database is not a file in its data dir
        env["CODEYARD_DATABASE_URL"] = database_url
    out = subprocess.run(
        [
            *(sys.executable, "-m", "codeyard", "admin", "service-users", "create", "other-admin"),
            *("--role", "org_admin", "--org", org_id, "--json", "--data-dir", str(server.data_dir)),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return str(json.loads(out)["api_key"])


def test_two_processes_on_one_sqlite_file_stream_each_others_events(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    """A session run by one ``serve`` is streamed live from another on the same database file."""
    model_server.add_script("TASK-STREAM-TWO", [Step.delay(0.5), *SCRIPT])
    data = tmp_path / "data"
    runner = start_server(data, runtime_env(model_server))
    api_only = start_server(
        data,
        {"CODEYARD_RUNNER_ENABLED": "false", "CODEYARD_SCHEDULER_ENABLED": "false", "CODEYARD_STREAM_HEARTBEAT": "0.3"},
    )
    try:
        with _client(runner) as client:
            sid = client.sessions.create(prompt="TASK-STREAM-TWO: take notes").session_id
        got = read(api_only, f"/v3/organizations/{api_only.org_id}/sessions/{sid}/stream")
        assert [m.json for m in got] == all_events(runner, sid)
        assert got[-1].json["details"]["status"] == "exit"
        assert any(m.event == "command_run" for m in got)
    finally:
        stop_server(api_only)
        stop_server(runner)


def test_a_client_that_falls_behind_is_cut_and_resumes_by_replay(tmp_path: Path) -> None:
    """With room for one event per client, a write of two events at once cuts the org stream (its memory stays
    bounded); the client resumes with the last id it saw and gets everything once."""
    server = start_server(
        tmp_path / "data",
        {
            "CODEYARD_RUNNER_ENABLED": "false",
            "CODEYARD_SCHEDULER_ENABLED": "false",
            "CODEYARD_STREAM_QUEUE_SIZE": "1",
            "CODEYARD_STREAM_HEARTBEAT": "0.3",
        },
    )
    try:
        path = f"/v3/organizations/{server.org_id}/stream"
        with (
            httpx2.Client(base_url=server.url, timeout=60) as http,
            http.stream("GET", path, headers={"Authorization": f"Bearer {server.org_key}"}) as response,
            _client(server) as client,
        ):
            comments: list[str] = []
            messages = sse_messages(response, comments)
            opening = next(messages)
            assert opening.data is None and opening.id
            sid = client.sessions.create(prompt="two events in one transaction").session_id
            before_cut = list(messages)  # ends: the server cut the stream
            assert comments[-1].startswith(": cut"), "the server says why it ended the stream"
            client.sessions.send_message(sid, "after the cut")
        resume_from = before_cut[-1].id if before_cut else opening.id
        resumed = []
        for message in read_until(server, path, {"Last-Event-ID": str(resume_from)}):
            resumed.append(message)
            if message.json["details"].get("message") == "after the cut":
                break
        ids = [m.id for m in before_cut + resumed]
        assert ids == [e["event_id"] for e in all_events(server, sid)]
    finally:
        stop_server(server)


def read_until(server: LiveServer, path: str, headers: dict[str, str]) -> Iterator[Sse]:
    with (
        httpx2.Client(base_url=server.url, timeout=60) as http,
        http.stream("GET", path, headers={"Authorization": f"Bearer {server.org_key}", **headers}) as response,
    ):
        assert response.status_code == 200
        yield from sse_messages(response)


def test_details_are_redacted_like_everything_stored(streaming: LiveServer, model_server: FakeModelServer) -> None:
    secret = "tok-9f8e7d6c5b4a"
    model_server.add_script(
        "TASK-STREAM-SECRET",
        [
            Step.tool("run_command", {"command": "echo the token is $DEPLOY_TOKEN"}),
            Step.tool("write_file", {"path": "env.txt", "content": f"TOKEN={secret}\n"}),
            Step.text(f"I used {secret}."),
        ],
    )
    with _client(streaming) as client:
        sid = client.sessions.create(
            prompt="TASK-STREAM-SECRET: deploy", session_secrets=[{"key": "DEPLOY_TOKEN", "value": secret}]
        ).session_id
    got = read(streaming, f"/v3/organizations/{streaming.org_id}/sessions/{sid}/stream")
    raw = json.dumps([m.json for m in got])
    assert secret not in raw
    command = next(m.json["details"] for m in got if m.event == "command_run")
    assert command["output"] == "the token is [REDACTED:DEPLOY_TOKEN]\n"
    written = next(m.json["details"] for m in got if m.event == "file_created")
    assert "+TOKEN=[REDACTED:DEPLOY_TOKEN]" in written["diff"]
