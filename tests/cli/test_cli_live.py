"""The CLI against a real ``codeyard serve`` on loopback: every command group, tables and ``--json``."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from codeyard.cli.main import app
from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("cli-live") / "data", {"CODEYARD_RUNNER_ENABLED": "false"})
    yield live
    stop_server(live)


@pytest.fixture
def cli(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0, stdin: str | None = None) -> str:
    result = cli.invoke(app, list(args), input=stdin)
    assert result.exit_code == code, f"{args}: {result.output}"
    return result.output


def run_json(cli: CliRunner, *args: str, stdin: str | None = None) -> Any:
    return json.loads(run(cli, *args, "--json", stdin=stdin))


def test_sessions_commands(cli: CliRunner, server: LiveServer, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("context for the agent\n")
    created = run_json(cli, "sessions", "create", "Fix the login bug", "--tag", "cli", "--attach", str(notes))
    sid = created["session_id"]
    assert created["status"] == "new" and created["tags"] == ["cli"]
    table = run(cli, "sessions", "list")
    assert sid in table and "Fix the login bug" in table
    assert run_json(cli, "sessions", "get", sid)["title"] == "Fix the login bug"
    run(cli, "sessions", "send", sid, "also check the logout")
    messages = run_json(cli, "sessions", "messages", sid)
    assert [m["message"] for m in messages][-1] == "also check the logout"
    assert [a["name"] for a in run_json(cli, "sessions", "attachments", sid)] == ["notes.txt"]
    assert run_json(cli, "sessions", "archive", sid)["is_archived"] is True
    assert run_json(cli, "sessions", "terminate", sid)["status"] == "exit"
    error = run(cli, "sessions", "send", sid, "more", code=1)
    assert error.startswith("error: 409") and "request id" in error


def test_knowledge_playbooks_secrets_schedules(cli: CliRunner) -> None:
    note = run_json(
        cli,
        "knowledge",
        "notes",
        "create",
        "--name",
        "Deploys",
        "--body",
        "Use make deploy.",
        "--trigger",
        "when deploying",
    )
    assert note["name"] == "Deploys"
    assert note["note_id"] in run(cli, "knowledge", "notes", "list")
    playbook = run_json(cli, "playbooks", "create", "--title", "Release", "--body", "Tag it.", "--macro", "!rel")
    assert playbook["macro"] == "!rel"
    secret = run_json(cli, "secrets", "create", "DEPLOY_TOKEN", "--value-stdin", stdin="s3cr3t-value\n")
    assert secret["key"] == "DEPLOY_TOKEN" and "s3cr3t-value" not in json.dumps(secret)
    assert "s3cr3t-value" not in run(cli, "secrets", "list")
    schedule = run_json(
        cli, "schedules", "create", "Run the nightly checks", "--cron", "0 3 * * *", "--timezone", "Europe/Berlin"
    )
    assert schedule["cron_schedule"] == "0 3 * * *" and schedule["timezone"] == "Europe/Berlin"
    assert schedule["next_run_at"].endswith("Z")
    bad = run(cli, "schedules", "create", "bad", "--cron", "61 * * * *", code=1)
    assert "error: --cron:" in bad and "minute" in bad  # the flag the user typed, not the API's field name
    run(cli, "playbooks", "delete", playbook["playbook_id"])
    run(cli, "knowledge", "notes", "delete", note["note_id"])
    run(cli, "secrets", "delete", secret["secret_id"])


def test_a_missing_key_is_a_clear_one_line_error(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVIN_API_KEY")
    result = cli.invoke(app, ["sessions", "list"])
    assert result.exit_code != 0
    assert "DEVIN_API_KEY" in result.output and len(result.output.strip().splitlines()) == 1
