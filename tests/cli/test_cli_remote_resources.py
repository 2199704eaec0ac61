"""Knowledge, playbooks, secrets and schedules commands: what they send and what they print."""

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from codeyard.cli.main import app
from tests.sdk.fake_api import FakeAPI, Reply, page_json, session_json

ORG = "org-1"
BASE = f"/v3/organizations/{ORG}"
SID = "devin-" + "9" * 32
NOTE = {
    "note_id": "note-1",
    "name": "deploys",
    "body": "Use make deploy.",
    "trigger": "deploy",
    "folder_id": "folder-1",
    "is_enabled": True,
    "pinned_repo": "acme/app",
    "macro": None,
}
SECRET = {"secret_id": "secret-1", "key": "TOKEN", "secret_type": "key-value", "is_sensitive": True}
SCHEDULE = {"scheduled_session_id": "sched-1", "prompt": "nightly", "frequency": "0 2 * * *", "enabled": True}


def run(api: FakeAPI, *args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    environment: dict[str, str | None] = {"DEVIN_API_URL": api.url, "DEVIN_API_KEY": "cog_k", "DEVIN_ORG_ID": ORG}
    return CliRunner(env={**environment, **(env or {})}).invoke(app, list(args), input=input)


def test_secret_value_from_stdin(api: FakeAPI) -> None:
    api.on("POST", f"{BASE}/secrets", Reply(json=SECRET))

    result = run(api, "secrets", "create", "TOKEN", "--value-stdin", "--note", "CI", input="s3cr3t-value\n")

    assert result.exit_code == 0, result.output
    assert api.requests_to("POST", f"{BASE}/secrets")[0].json() == {
        "key": "TOKEN",
        "type": "key-value",
        "value": "s3cr3t-value",
        "is_sensitive": True,
        "note": "CI",
    }
    assert "s3cr3t-value" not in result.output


def test_secret_value_from_an_environment_variable(api: FakeAPI) -> None:
    api.on("POST", f"{BASE}/secrets", Reply(json=SECRET))

    result = run(
        api, "secrets", "create", "TOKEN", "--value-env", "MY_TOKEN", "--type", "cookie", "--not-sensitive",
        env={"MY_TOKEN": "from-env"},
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    sent = api.requests_to("POST", f"{BASE}/secrets")[0].json()
    assert (sent["value"], sent["type"], sent["is_sensitive"]) == ("from-env", "cookie", False)


def test_secret_value_from_a_hidden_prompt(api: FakeAPI) -> None:
    api.on("POST", f"{BASE}/secrets", Reply(json=SECRET))

    result = run(api, "secrets", "create", "TOKEN", input="typed-value\ntyped-value\n")

    assert result.exit_code == 0, result.output
    assert api.requests_to("POST", f"{BASE}/secrets")[0].json()["value"] == "typed-value"
    assert "typed-value" not in result.output


def test_secret_value_errors_are_usage_errors(api: FakeAPI) -> None:
    unset = run(api, "secrets", "create", "TOKEN", "--value-env", "NOT_SET_ANYWHERE", env={"NOT_SET_ANYWHERE": None})
    empty = run(api, "secrets", "create", "TOKEN", "--value-stdin", input="\n")

    assert (unset.exit_code, empty.exit_code) == (2, 2)
    assert "NOT_SET_ANYWHERE is not set" in unset.output
    assert api.requests == []


def test_secrets_list_never_shows_values_and_delete(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/secrets", Reply(json=page_json([SECRET])))
    api.on("DELETE", f"{BASE}/secrets/secret-1", Reply(json=SECRET))

    listed = run(api, "secrets", "list")
    deleted = run(api, "secrets", "delete", "secret-1")

    assert listed.stdout.splitlines()[0].split() == ["SECRET", "ID", "KEY", "TYPE", "SENSITIVE", "NOTE", "CREATED"]
    assert listed.stdout.splitlines()[1].split()[:4] == ["secret-1", "TOKEN", "key-value", "yes"]
    assert deleted.stdout == "deleted secret-1 (TOKEN)\n"


def test_note_update_keeps_the_fields_not_given(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/knowledge/notes/note-1", Reply(json=NOTE))
    api.on("PUT", f"{BASE}/knowledge/notes/note-1", Reply(json={**NOTE, "trigger": "release"}))

    result = run(api, "knowledge", "notes", "update", "note-1", "--trigger", "release", "--disabled", "--json")

    assert result.exit_code == 0, result.output
    assert api.requests_to("PUT", f"{BASE}/knowledge/notes/note-1")[0].json() == {
        "name": "deploys",
        "body": "Use make deploy.",
        "trigger": "release",
        "folder_id": "folder-1",
        "is_enabled": False,
        "pinned_repo": "acme/app",
    }
    assert json.loads(result.stdout)["trigger"] == "release"


def test_note_create_reads_the_body_from_a_file(api: FakeAPI, tmp_path: Path) -> None:
    api.on("POST", f"{BASE}/knowledge/notes", Reply(json=NOTE))
    body = tmp_path / "note.md"
    body.write_text("Use make deploy.\n")

    result = run(
        api, "knowledge", "notes", "create", "--name", "deploys", "--trigger", "deploy", "--body-file", str(body)
    )
    both = run(api, "knowledge", "notes", "create", "--name", "n", "--trigger", "t", "--body", "x", "--body-file", "-")

    assert result.exit_code == 0, result.output
    assert api.requests_to("POST", f"{BASE}/knowledge/notes")[0].json()["body"] == "Use make deploy.\n"
    assert both.exit_code == 2


def test_folders_list(api: FakeAPI) -> None:
    folder = {"folder_id": "folder-1", "name": "ops", "note_count": 3, "parent_folder_id": None, "path": "ops"}
    api.on("GET", f"{BASE}/knowledge/folders", Reply(json={"folders": [folder], "root_note_count": 2}))

    result = run(api, "knowledge", "folders", "list")

    assert result.stdout.splitlines()[1].split() == ["folder-1", "ops", "3", "-"]
    assert "2 notes outside any folder" in result.stderr


def test_playbook_create_from_stdin_and_update(api: FakeAPI) -> None:
    playbook = {"playbook_id": "playbook-1", "title": "Deploy", "body": "old", "macro": "!deploy"}
    api.on("POST", f"{BASE}/playbooks", Reply(json=playbook))
    api.on("GET", f"{BASE}/playbooks/playbook-1", Reply(json=playbook))
    api.on("PUT", f"{BASE}/playbooks/playbook-1", Reply(json={**playbook, "title": "Ship"}))

    created = run(api, "playbooks", "create", "--title", "Deploy", "--body-file", "-", input="1. build\n2. ship\n")
    updated = run(api, "playbooks", "update", "playbook-1", "--title", "Ship")

    assert created.exit_code == updated.exit_code == 0
    assert api.requests_to("POST", f"{BASE}/playbooks")[0].json() == {"title": "Deploy", "body": "1. build\n2. ship\n"}
    assert api.requests_to("PUT", f"{BASE}/playbooks/playbook-1")[0].json() == {
        "title": "Ship",
        "body": "old",
        "macro": "!deploy",
    }


def test_schedule_create_and_update(api: FakeAPI) -> None:
    api.on("POST", f"{BASE}/schedules", Reply(json=SCHEDULE))
    api.on("PATCH", f"{BASE}/schedules/sched-1", Reply(json={**SCHEDULE, "enabled": False}))

    created = run(api, "schedules", "create", "nightly", "--cron", "0 2 * * *", "--timezone", "Europe/Paris")
    updated = run(api, "schedules", "update", "sched-1", "--disable", "--no-playbook")
    nothing = run(api, "schedules", "update", "sched-1")

    assert created.exit_code == updated.exit_code == 0
    assert api.requests_to("POST", f"{BASE}/schedules")[0].json() == {
        "prompt": "nightly",
        "schedule_type": "recurring",
        "frequency": "0 2 * * *",
        "timezone": "Europe/Paris",
    }
    assert api.requests_to("PATCH", f"{BASE}/schedules/sched-1")[0].json() == {"enabled": False, "playbook_id": None}
    assert nothing.exit_code == 2


def test_send_archive_and_terminate(api: FakeAPI) -> None:
    api.on("POST", f"{BASE}/sessions/{SID}/messages", Reply(json=session_json(SID, status="resuming")))
    api.on("POST", f"{BASE}/sessions/{SID}/archive", Reply(json=session_json(SID, is_archived=True)))
    api.on("DELETE", f"{BASE}/sessions/{SID}", Reply(json=session_json(SID, status="exit")))

    sent = run(api, "sessions", "send", SID, "-", input="please add tests\n")
    archived = run(api, "sessions", "archive", SID, "--json")
    terminated = run(api, "sessions", "terminate", SID, "--archive")

    assert api.requests_to("POST", f"{BASE}/sessions/{SID}/messages")[0].json() == {"message": "please add tests\n"}
    assert "resuming" in sent.stdout
    assert json.loads(archived.stdout)["is_archived"] is True
    assert api.requests_to("DELETE", f"{BASE}/sessions/{SID}")[0].params("archive") == ["true"]
    assert terminated.exit_code == 0
