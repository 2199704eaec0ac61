"""What a session's agent is given and what it leaves behind: playbook, notes, files, secrets, structured output."""

import secrets
import time
from collections.abc import Callable
from typing import Any

import psutil

from codeyard.sdk import Client
from tests.conftest import LiveServer
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import settled, wait_for

SLEEP = f"331.{secrets.randbelow(10**6):06d}"
"""The long command's ``sleep`` argument, unique to this run: the host's process table is searched for it,
and parallel test runs (other workers, other checkouts) must not find each other's."""


def conversation(model: FakeModelServer, match: str) -> list[dict[str, Any]]:
    """The messages of the last request of the conversation whose task contains ``match``."""
    found: list[dict[str, Any]] = []
    for request in model.requests_to("/v1/chat/completions"):
        messages = request.body["messages"]
        if any(m["role"] == "user" and match in str(m.get("content")) for m in messages):
            found = messages
    return found


def test_playbook_macro_and_matching_notes_reach_the_system_prompt(
    client: Client, model_server: FakeModelServer
) -> None:
    client.playbooks.create(title="Release", body="PLAYBOOK-BODY: bump the version, then tag.", macro="!release")
    note = client.knowledge.notes.create(
        name="Billing", body="NOTE-BODY: invoices round half up.", trigger="when working on the billing service"
    )
    client.knowledge.notes.create(name="Docs", body="NOTE-UNRELATED", trigger="when writing documentation")
    model_server.add_script("TASK-CONTEXT", [Step.text("ok")])
    session = client.sessions.create(prompt="TASK-CONTEXT !release fix rounding in the billing service")
    wait_for(client, session.session_id, settled)
    system = str(conversation(model_server, "TASK-CONTEXT")[0]["content"])
    assert "PLAYBOOK-BODY" in system and "NOTE-BODY" in system and "NOTE-UNRELATED" not in system
    events = client.sessions.events(session.session_id, categories=["knowledge", "playbook"]).items
    assert {(e.category, e.event_type) for e in events} == {
        ("knowledge", "knowledge_used"),
        ("playbook", "playbook_used"),
    }
    assert client.sessions.get(session.session_id).playbook_id is not None
    none = client.sessions.create(prompt="TASK-CONTEXT-NONE fix the billing service", knowledge_ids=[])
    model_server.add_script("TASK-CONTEXT-NONE", [Step.text("ok")])
    wait_for(client, none.session_id, settled)
    assert "NOTE-BODY" not in str(conversation(model_server, "TASK-CONTEXT-NONE")[0]["content"])
    client.knowledge.notes.delete(note.note_id)


def test_user_files_are_placed_in_the_workspace(
    client: Client, runtime: LiveServer, model_server: FakeModelServer
) -> None:
    upload = client.attachments.upload(b"col\n1\n2\n", name="data.csv")
    model_server.add_script(
        "TASK-FILES", [Step.tool("run_command", {"command": "wc -l attachments/data.csv"}), Step.text("three lines")]
    )
    session = client.sessions.create(prompt=f'TASK-FILES count the lines\nATTACHMENT:"{upload.url}"')
    wait_for(client, session.session_id, settled)
    results = [m["content"] for m in conversation(model_server, "TASK-FILES") if m["role"] == "tool"]
    assert results[0] == "[exit code 0]\n3 attachments/data.csv\n"
    assert [(a.name, a.source) for a in client.sessions.attachments(session.session_id)] == [("data.csv", "user")]


def test_secrets_reach_commands_and_are_redacted_everywhere(client: Client, model_server: FakeModelServer) -> None:
    client.secrets.create(key="ORG_TOKEN", value="org-secret-value-123")
    model_server.add_script(
        "TASK-SECRET",
        [
            Step.tool(
                "run_command",
                {"command": 'echo "$ORG_TOKEN $SESSION_PASS"; test "$ORG_TOKEN" = org-secret-value-123 && echo org-ok'},
            ),
            Step.tool("message_user", {"message": "the password is hunter2-session-pw"}),
            Step.text("done with org-secret-value-123"),
        ],
    )
    session = client.sessions.create(
        prompt="TASK-SECRET use the tokens",
        session_secrets=[{"key": "SESSION_PASS", "value": "hunter2-session-pw", "sensitive": True}],
    )
    wait_for(client, session.session_id, settled)
    result = next(m["content"] for m in conversation(model_server, "TASK-SECRET") if m["role"] == "tool")
    assert result == "[exit code 0]\n[REDACTED:ORG_TOKEN] [REDACTED:SESSION_PASS]\norg-ok\n"
    stored = " ".join(m.message for m in client.sessions.messages(session.session_id).items)
    stored += " ".join(e.summary or "" for e in client.sessions.events(session.session_id).items)
    assert "org-secret-value-123" not in stored and "hunter2-session-pw" not in stored
    assert "[REDACTED:SESSION_PASS]" in stored and "[REDACTED:ORG_TOKEN]" in stored


def test_structured_output_is_validated_then_stored(client: Client, model_server: FakeModelServer) -> None:
    schema = {"type": "object", "properties": {"passed": {"type": "integer"}}, "required": ["passed"]}
    model_server.add_script(
        "TASK-SCHEMA",
        [
            Step.tool("submit_structured_output", {"output": {"passed": "many"}}),
            Step.tool("submit_structured_output", {"output": {"passed": 12}, "is_final": True}),
            Step.text("reported"),
        ],
    )
    session = client.sessions.create(prompt="TASK-SCHEMA count the tests", structured_output_schema=schema)
    done = wait_for(client, session.session_id, settled)
    assert done.structured_output == {"passed": 12}
    results = [m["content"] for m in conversation(model_server, "TASK-SCHEMA") if m["role"] == "tool"]
    assert results[0].startswith("error: the output does not match the schema at passed")
    assert results[1] == "structured output stored"


def test_archive_stops_a_running_session(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-ARCHIVE", [Step.tool("run_command", {"command": f"sleep {SLEEP}"})])
    session = client.sessions.create(prompt="TASK-ARCHIVE wait")
    assert _eventually(lambda: bool(_sleepers())), "the command never started"
    archived = client.sessions.archive(session.session_id)
    assert archived.is_archived and (archived.status, archived.status_detail) == ("suspended", "user_request")
    assert _eventually(lambda: not _sleepers(), 2.5), "archiving did not stop the command"
    assert client.sessions.get(session.session_id).status == "suspended"


def _sleepers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if (p.info.get("cmdline") or [])[:2] == ["sleep", SLEEP]]


def _eventually(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
