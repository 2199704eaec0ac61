"""The remote commands (sessions, knowledge, playbooks, secrets, schedules) against a scripted API over HTTP."""

import itertools
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from codeyard.cli.main import app
from tests.sdk.fake_api import FakeAPI, Recorded, Reply, message_json, page_json, session_json

KEY = "cog_cli_test_key"
ORG = "org-1"
BASE = f"/v3/organizations/{ORG}"
SID = "devin-" + "f" * 32


def run(api: FakeAPI, *args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    environment: dict[str, str | None] = {"DEVIN_API_URL": api.url, "DEVIN_API_KEY": KEY, "DEVIN_ORG_ID": ORG}
    return CliRunner(env={**environment, **(env or {})}).invoke(app, list(args), input=input)


def test_sessions_list_prints_an_aligned_table(api: FakeAPI) -> None:
    sessions = [
        session_json(SID, title="Fix [WIP] login"),
        session_json("devin-" + "1" * 32, status="exit", status_detail="finished", title="Docs"),
    ]
    api.on("GET", f"{BASE}/sessions", Reply(json=page_json(sessions, "next-cursor")))

    result = run(api, "sessions", "list", "--tag", "ci", "--first", "2")

    assert result.exit_code == 0, result.output
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["SESSION", "ID", "STATUS", "DETAIL", "UPDATED", "TITLE"]
    assert first.startswith(SID)
    assert "Fix [WIP] login" in first
    assert second.split()[1:3] == ["exit", "finished"]
    # Columns line up: every row starts its STATUS cell where the header does.
    assert first.index("running") == second.index("exit") == header.index("STATUS")
    assert "more: --after next-cursor" in result.stderr
    request = api.requests_to("GET", f"{BASE}/sessions")[0]
    assert (request.params("tags"), request.params("first")) == (["ci"], ["2"])


def test_json_prints_the_raw_response(api: FakeAPI) -> None:
    body = session_json(SID, status="new", queue_position=2)
    api.on("GET", f"{BASE}/sessions/{SID}", Reply(json=body))

    result = run(api, "sessions", "get", SID, "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == body


def test_get_shows_every_field(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/sessions/{SID}", Reply(json=session_json(SID, tags=["a", "b"], queue_position=2)))

    result = run(api, "sessions", "get", SID)

    lines = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1].strip() for line in result.stdout.splitlines()[1:]}
    assert lines["session_id"] == SID
    assert lines["tags"] == "a, b"
    assert lines["queue_position"] == "2"
    assert lines["parent_session_id"] == "-"


def test_create_uploads_attachments_then_starts_the_session(api: FakeAPI, tmp_path: Path) -> None:
    upload = {"attachment_id": "u-1", "name": "spec.md", "url": "http://signed/spec.md"}
    api.on("POST", f"{BASE}/attachments", Reply(json=upload))
    api.on("POST", f"{BASE}/sessions", Reply(json=session_json(SID, status="new")))
    spec = tmp_path / "spec.md"
    spec.write_text("# spec")

    result = run(
        api, "sessions", "create", "Implement the spec", "--tag", "cli", "--repo", "acme/app", "--no-knowledge",
        "--attach", str(spec),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert api.requests_to("POST", f"{BASE}/attachments")[0].files["file"].content == b"# spec"
    assert api.requests_to("POST", f"{BASE}/sessions")[0].json() == {
        "prompt": "Implement the spec",
        "tags": ["cli"],
        "repos": ["acme/app"],
        "knowledge_ids": [],
        "attachment_urls": ["http://signed/spec.md"],
    }
    assert SID in result.stdout


def test_api_errors_are_one_line_on_stderr_with_exit_code_1(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/sessions/{SID}", Reply.problem(404, "Not Found", f"session {SID} not found"))

    result = run(api, "sessions", "get", SID)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: 404 Not Found: session {SID} not found (request id req-")
    assert len(result.stderr.splitlines()) == 1


def test_missing_api_key_gets_a_friendly_message(api: FakeAPI) -> None:
    result = run(api, "sessions", "list", env={"DEVIN_API_KEY": None})

    assert result.exit_code == 1
    assert result.stderr.startswith("error: DEVIN_API_KEY is not set.")
    assert "bootstrap.env" in result.stderr
    assert api.requests == []


def test_unreachable_server_is_reported(api: FakeAPI) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = run(api, "playbooks", "list", env={"DEVIN_API_URL": f"http://127.0.0.1:{port}"})

    assert result.exit_code == 1
    assert "error: cannot reach the API" in result.stderr
    assert KEY not in result.output


def test_usage_errors_exit_with_2(api: FakeAPI) -> None:
    assert run(api, "sessions", "get").exit_code == 2
    assert (
        run(api, "schedules", "create", "nightly", "--cron", "0 2 * * *", "--at", "2030-01-01T00:00:00Z").exit_code == 2
    )
    assert api.requests == []


def test_messages_table(api: FakeAPI) -> None:
    items = [message_json(1, "user", "fix it"), message_json(2, "devin", "done")]
    api.on("GET", f"{BASE}/sessions/{SID}/messages", Reply(json=page_json(items)))

    result = run(api, "sessions", "messages", SID)

    header, first, second = result.stdout.splitlines()
    assert header.split() == ["TIME", "FROM", "MESSAGE"]
    assert first.split()[-2:] == ["fix", "it"]
    assert second.split()[-2:] == ["devin", "done"]


def _progress(states: list[dict[str, object]]) -> list[Reply]:
    return [Reply(json=session_json(SID, **state)) for state in states]


def _growing_messages() -> Callable[[Recorded], Reply]:
    """Each poll sees one more message (up to 3); the page has no cursor, so the CLI must skip those seen."""
    polls = itertools.count(1)

    def reply(request: Recorded) -> Reply:
        count = min(next(polls), 3)
        return Reply(json=page_json([message_json(n) for n in range(1, count + 1)]))

    return reply


def test_watch_prints_each_new_message_once_until_the_session_finishes(api: FakeAPI) -> None:
    states: list[dict[str, object]] = [
        {"status": "running", "status_detail": "working"},
        {"status": "running", "status_detail": "working"},
        {"status": "exit", "status_detail": "finished"},
    ]
    api.on("GET", f"{BASE}/sessions/{SID}", *_progress(states))
    api.on("GET", f"{BASE}/sessions/{SID}/messages", _growing_messages())

    result = run(api, "sessions", "watch", SID, "--interval", "0.01")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("] ", 1)[1] for line in lines[:-1]] == [
        "devin: message 1",
        "devin: message 2",
        "devin: message 3",
    ]
    assert lines[-1] == f"session {SID} is exit (finished)"
    assert len(api.requests_to("GET", f"{BASE}/sessions/{SID}")) == 3


def test_watch_stops_when_the_agent_waits_and_fails_on_error(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/sessions/{SID}/messages", Reply(json=page_json([message_json(1)])))
    api.on("GET", f"{BASE}/sessions/{SID}", Reply(json=session_json(SID, status_detail="waiting_for_user")))

    waiting = run(api, "sessions", "watch", SID, "--json")

    api.on("GET", f"{BASE}/sessions/{SID}", Reply(json=session_json(SID, status="error", status_detail="error")))
    failed = run(api, "sessions", "watch", SID)

    assert waiting.exit_code == 0
    message, final = (json.loads(line) for line in waiting.stdout.splitlines())
    assert message == message_json(1)
    assert final["status_detail"] == "waiting_for_user"
    assert failed.exit_code == 1
    assert failed.stdout.splitlines()[-1] == f"session {SID} is error (error)"


def test_watch_exits_1_when_the_session_is_suspended(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/sessions/{SID}/messages", Reply(json=page_json([message_json(1)])))
    suspended = session_json(SID, status="suspended", status_detail="inactivity")
    api.on("GET", f"{BASE}/sessions/{SID}", Reply(json=suspended))

    result = run(api, "sessions", "watch", SID)

    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1] == f"session {SID} is suspended (inactivity)"


def test_watch_stops_with_an_error_when_the_server_repeats_its_cursor(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/sessions/{SID}", Reply(json=session_json(SID, status_detail="working")))
    stuck = {"items": [message_json(1)], "end_cursor": "c1", "has_next_page": True}
    api.on("GET", f"{BASE}/sessions/{SID}/messages", Reply(json=stuck))

    result = run(api, "sessions", "watch", SID, "--interval", "0.01")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: unexpected response to GET") and "repeats a page" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert len(api.requests_to("GET", f"{BASE}/sessions/{SID}/messages")) == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEVIN_API_URL": "http://[::1"}, "error: the API URL 'http://[::1' is not valid"),
        ({"DEVIN_API_KEY": "cog_clé_secrète"}, "error: the API key contains characters other than printable ASCII"),
        ({"DEVIN_API_KEY": KEY + "\x7f"}, "error: the API key contains characters other than printable ASCII"),
    ],
)
def test_bad_settings_are_one_line_errors_that_never_quote_the_key(
    api: FakeAPI, env: dict[str, str | None], message: str
) -> None:
    result = run(api, "sessions", "list", env=env)

    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1
    assert "clé" not in result.output and KEY not in result.output
    assert api.requests == []


def test_a_body_file_that_is_not_text_is_a_usage_error(api: FakeAPI, tmp_path: Path) -> None:
    binary = tmp_path / "program"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x80")

    result = run(api, "knowledge", "notes", "create", "--name", "n", "--trigger", "t", "--body-file", str(binary))

    assert result.exit_code == 2
    assert "isnotUTF-8text" in "".join(result.output.replace("│", "").split())
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert api.requests == []
