"""Regressions found in review: messages that arrive during the last model call, the ACU budget on resume,
a deleted playbook, the model's working-directory spellings, secrets in tool-call arguments."""

import time
from pathlib import Path

from codeyard.cli.server import prepare
from codeyard.runner import context
from codeyard.sdk import Client
from codeyard.services.playbooks import PlaybookSpec
from codeyard.services.principal import Principal, Role
from codeyard.services.sessions import NewSession
from tests.conftest import LiveServer, make_settings
from tests.databases import query
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import settled, wait_for


def test_a_message_sent_during_the_last_model_call_is_answered(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-RACE", [Step.delay(2), Step.text("First answer."), Step.text("Saw your note.")])
    session = client.sessions.create(prompt="TASK-RACE answer")
    deadline = time.monotonic() + 30
    while not any("TASK-RACE" in str(r.body["messages"]) for r in model_server.requests_to("/v1/chat/completions")):
        assert time.monotonic() < deadline, "the model was never asked"
        time.sleep(0.02)
    client.sessions.send_message(session.session_id, "one more thing")  # the model is still thinking (2 s)
    done = wait_for(
        client,
        session.session_id,
        lambda s: settled(s) and client.sessions.messages(s.session_id).items[-1].message == "Saw your note.",
    )
    assert (done.status, done.status_detail) == ("exit", "finished")
    last = model_server.requests_to("/v1/chat/completions")[-1].body["messages"]
    assert last[-1] == {"role": "user", "content": "one more thing"}


def test_a_message_resumes_a_session_that_hit_its_acu_limit(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-MORE",
        [
            Step.tool("run_command", {"command": "sleep 5"}),
            Step.text("a"),
            Step.tool("run_command", {"command": "sleep 5"}),
            Step.text("b"),
        ],
    )
    # 0.004 ACU is 3.6 s of working time: the first command runs past it; the budget granted again on the
    # message leaves the one model call that answers "a" seconds to spare, even on a starved machine.
    session = client.sessions.create(prompt="TASK-MORE work", max_acu_limit=0.004)
    first = wait_for(client, session.session_id, settled)
    assert (first.status, first.status_detail) == ("suspended", "usage_limit_exceeded")
    client.sessions.send_message(session.session_id, "go on")
    done = wait_for(client, session.session_id, lambda s: s.status == "exit")
    assert done.status_detail == "finished"  # it worked on with a fresh budget instead of stopping at once
    assert client.sessions.messages(session.session_id).items[-1].message == "a"
    events = [e.event_type for e in client.sessions.events(session.session_id).items]
    assert "usage_limit_raised" in events
    assert (done.model_extra or {})["max_acu_limit"] >= 0.008


async def test_a_deleted_playbook_does_not_fail_the_session(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    db, services = await prepare(settings)
    org = (await services.identity.list_orgs())[0].id
    user = (await services.identity.list_service_users(org))[0]
    principal = Principal(user.id, user.name, org, Role.ORG_ADMIN, "key")
    playbook = await services.playbooks.create(user.id, org, PlaybookSpec(title="Gone", body="PLAYBOOK-GONE"))
    row = await services.sessions.create(principal, org, NewSession(prompt="work", playbook_id=playbook.id))
    await services.playbooks.delete(org, playbook.id)
    built = await context.build(row, services, "/workspace", {}, [], tmp_path, [], [])
    assert "PLAYBOOK-GONE" not in built.system
    assert [e.event_type for e in built.events] == ["playbook_missing"]
    await db.dispose()


def test_working_directories_in_any_spelling(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-CWD",
        [
            Step.tool("run_command", {"command": "pwd", "cwd": "/workspace"}),
            Step.tool("run_command", {"command": "pwd", "cwd": "no-such-dir"}),
            Step.text("ok"),
        ],
    )
    session = client.sessions.create(prompt="TASK-CWD look")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    results = [
        m["content"]
        for r in model_server.requests_to("/v1/chat/completions")[-1:]
        for m in r.body["messages"]
        if m["role"] == "tool"
    ]
    assert results[0].startswith("[exit code 0]")
    assert results[1].startswith("error:")


def test_secrets_in_tool_call_arguments_are_not_stored(
    client: Client, runtime: LiveServer, model_server: FakeModelServer
) -> None:
    model_server.add_script(
        "TASK-ARGSECRET",
        [
            Step.tool("write_file", {"path": "note.txt", "content": "pw=argument-secret-987"}),
            Step.text("done"),
        ],
    )
    session = client.sessions.create(
        prompt="TASK-ARGSECRET write it",
        session_secrets=[{"key": "PW", "value": "argument-secret-987", "sensitive": True}],
    )
    wait_for(client, session.session_id, settled)
    rows = query(runtime.data_dir, "SELECT item FROM agent_history WHERE session_id = :s", s=session.session_id)
    stored = " ".join(str(row[0]) for row in rows)
    assert "argument-secret-987" not in stored and "[REDACTED:PW]" in stored
