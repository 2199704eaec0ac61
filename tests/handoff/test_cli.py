"""`codeyard handoff` end to end: secrets stop it before any request; otherwise what it sends rebuilds the work."""

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from codeyard.cli.handoff import handoff_command
from codeyard.handoff.apply import apply_handoff, parse_manifest
from tests.handoff.fake_api import running_fake_api
from tests.handoff.repos import commit_all, fresh_clone, git, make_local_work, tree_snapshot

API_KEY = "cog_" + "T3stK3y" * 6
AWS_KEY = "AKIAIOSFODNN7EXAMPLF"
TASK = "Finish the feature and make the tests pass; " + "the details are in notes.txt. " * 4


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that accepts connections without answering: any request attempt leaves a pending connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def nothing_attempted(sock: socket.socket) -> bool:
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def handoff(cwd: Path, base_url: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    app = typer.Typer()
    app.command()(handoff_command)
    monkeypatch.chdir(cwd)
    env = {"DEVIN_API_URL": base_url, "DEVIN_API_KEY": API_KEY, "DEVIN_ORG_ID": "org-test"}
    return CliRunner().invoke(app, list(args), env=env)


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_secrets_stop_the_handoff_before_any_request(
    work: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "settings.env").write_text(f"DEBUG=1\nAWS_ACCESS_KEY_ID={AWS_KEY}\n")
    (work / ".env.local").write_text(f"DEVIN_API_KEY={API_KEY}\n")

    result = handoff(work, url_of(listener), TASK, "--context", "see settings.env", monkeypatch=monkeypatch)

    assert result.exit_code == 3, result.output
    assert "settings.env:2: AWS Access Key" in result.stderr
    assert ".env.local:1: value of DEVIN_API_KEY" in result.stderr
    assert "--redact or --allow-secrets" in result.stderr
    assert API_KEY not in result.output and AWS_KEY not in result.output
    assert nothing_attempted(listener)


def test_secret_findings_as_json(work: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    result = handoff(work, url_of(listener), TASK, "--json", "--context", f"key {AWS_KEY}", monkeypatch=monkeypatch)

    assert result.exit_code == 3
    assert json.loads(result.stdout) == {
        "error": "secrets_found",
        "findings": [{"path": "--context", "line": 1, "commit": None, "name": None, "kind": "AWS Access Key"}],
    }
    assert nothing_attempted(listener)


def test_a_committed_secret_cannot_be_redacted(
    work: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "settings.env").write_text(f"AWS_ACCESS_KEY_ID={AWS_KEY}\n")
    sha = commit_all(work, "add settings")

    result = handoff(work, url_of(listener), TASK, "--redact", monkeypatch=monkeypatch)

    assert result.exit_code == 3
    assert f"settings.env:1 in commit {sha[:12]}: AWS Access Key" in result.stderr
    assert "cannot be redacted" in result.stderr
    assert nothing_attempted(listener)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--redact", "--allow-secrets"], 2, "exclude each other"),
        (["   "], 2, "the task is empty"),
    ],
)
def test_usage_errors(
    work: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, message: str
) -> None:
    full = args if args == ["   "] else [TASK, *args]
    result = handoff(work, url_of(listener), *full, monkeypatch=monkeypatch)
    assert result.exit_code == code
    assert message in result.output
    assert nothing_attempted(listener)


def test_outside_a_work_tree_is_a_usage_error(
    tmp_path: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = handoff(plain, url_of(listener), TASK, monkeypatch=monkeypatch)
    assert result.exit_code == 2
    assert "not inside a git work tree" in result.stderr
    assert nothing_attempted(listener)


def test_what_is_sent_rebuilds_the_work_tree_on_the_server(
    work: Path, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_local_work(work)
    with running_fake_api() as api:
        result = handoff(work, api.base_url, TASK, "--tag", "urgent", "--json", monkeypatch=monkeypatch)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["session_id"] == "devin-" + "0" * 31 + "1"
    assert "Unpushed commits: 2 (in the bundle)" in result.stderr
    assert API_KEY not in result.output
    assert api.authorizations == {f"Bearer {API_KEY}"}
    [created] = api.created
    assert (created["title"], created["tags"], created["repos"]) == (TASK[:80], ["handoff", "urgent"], [str(remote)])
    prompt = created["prompt"]
    assert prompt.startswith(TASK.strip())
    for name in ("handoff.bundle", "handoff.patch"):
        assert f'ATTACHMENT:"{api.base_url}/download/{name}"' in prompt
    manifest = parse_manifest(prompt)
    assert manifest is not None
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    files = {name: downloads / name for name in api.uploads}
    for name, data in api.uploads.items():
        files[name].write_bytes(data)
    server = fresh_clone(tmp_path, remote)
    apply_handoff(server, manifest, files)
    assert git(server, "log", "--format=%H %s") == git(work, "log", "--format=%H %s")
    ignored = {"debug.log", "build/out.txt"}
    assert tree_snapshot(server) == {path: data for path, data in tree_snapshot(work).items() if path not in ignored}


def test_redacted_secrets_never_leave(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (work / "settings.env").write_text(f"AWS_ACCESS_KEY_ID={AWS_KEY}\n")
    task = f"Deploy with {AWS_KEY}"
    with running_fake_api() as api:
        result = handoff(work, api.base_url, task, "--redact", "--context", f"also {AWS_KEY}", monkeypatch=monkeypatch)

    assert result.exit_code == 0, result.output
    assert "Redacted 3 secret(s)." in result.stderr
    prompt = api.created[0]["prompt"]
    assert api.created[0]["title"] == "Deploy with [REDACTED:AWS Access Key]"
    assert AWS_KEY not in prompt and all(AWS_KEY.encode() not in data for data in api.uploads.values())
    assert "AWS_ACCESS_KEY_ID=[REDACTED:AWS Access Key]" in prompt
    assert "also [REDACTED:AWS Access Key]" in prompt


def test_allowed_secrets_are_sent_as_they_are(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (work / "settings.env").write_text(f"AWS_ACCESS_KEY_ID={AWS_KEY}\n")
    with running_fake_api() as api:
        result = handoff(work, api.base_url, TASK, "--allow-secrets", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert f"+AWS_ACCESS_KEY_ID={AWS_KEY}" in api.created[0]["prompt"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(("exit", "finished"), 0), (("running", "waiting_for_user"), 0), (("suspended", "inactivity"), 1)],
)
def test_follow_prints_the_agents_messages_and_exits_by_outcome(
    work: Path, monkeypatch: pytest.MonkeyPatch, status: tuple[str, str], code: int
) -> None:
    (work / "README.md").write_text("# demo, edited\n")
    with running_fake_api() as api:
        api.status = status
        result = handoff(work, api.base_url, TASK, "--follow", monkeypatch=monkeypatch)

    assert result.exit_code == code, result.output
    assert "devin: All done." in result.stdout
    assert TASK.strip() not in result.stdout, "the prompt itself is not echoed"
    assert f"is {status[0]} ({status[1]})" in result.stdout


def test_the_users_own_api_key_is_never_sent_even_with_allow_secrets(
    work: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "notes.txt").write_text(f"my key is {API_KEY}\n")

    result = handoff(work, url_of(listener), TASK, "--allow-secrets", monkeypatch=monkeypatch)

    assert result.exit_code == 3, result.output
    assert "notes.txt:1: value of DEVIN_API_KEY" in result.stderr
    assert "your own DEVIN_API_KEY, which is never sent, even with --allow-secrets" in result.stderr
    assert API_KEY not in result.output
    assert nothing_attempted(listener)


def test_a_secret_in_a_file_name_cannot_be_redacted(
    work: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / f"{AWS_KEY}.txt").write_text("plain\n")

    result = handoff(work, url_of(listener), TASK, "--redact", monkeypatch=monkeypatch)

    assert result.exit_code == 3, result.output
    assert "file name [REDACTED:AWS Access Key].txt: AWS Access Key" in result.stderr
    assert "in a name (file, directory, branch, remote URL)" in result.stderr
    assert AWS_KEY not in result.output
    assert nothing_attempted(listener)


def test_a_failed_upload_says_what_was_uploaded_and_creates_no_session(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_local_work(work)  # unpushed commits (bundle) and binary changes (attached patch)
    with running_fake_api() as api:
        api.failing_upload = "handoff.patch"
        result = handoff(work, api.base_url, TASK, monkeypatch=monkeypatch)

    assert result.exit_code == 1
    assert "error: uploading handoff.patch failed: 413" in result.stderr
    assert "(handoff.bundle had been uploaded; no session was created)" in result.stderr
    assert list(api.uploads) == ["handoff.bundle"] and api.created == []


def test_a_file_name_that_is_not_utf8_is_handed_off(
    work: Path, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / os.fsdecode(b"caf\xe9.txt")).write_text("bonjour\n")
    with running_fake_api() as api:
        result = handoff(work, api.base_url, TASK, monkeypatch=monkeypatch)

    assert result.exit_code == 0, result.output
    assert "added caf\\xe9.txt" in result.stderr
    prompt = api.created[0]["prompt"]
    assert "added caf\\xe9.txt" in prompt
    manifest = parse_manifest(prompt)
    assert manifest is not None and manifest.patch == "handoff.patch", "a patch that is not UTF-8 is attached"
    patch_file = tmp_path / "handoff.patch"
    patch_file.write_bytes(api.uploads["handoff.patch"])
    server = fresh_clone(tmp_path, remote)
    apply_handoff(server, manifest, {"handoff.patch": patch_file})
    assert (server / os.fsdecode(b"caf\xe9.txt")).read_text() == "bonjour\n"
