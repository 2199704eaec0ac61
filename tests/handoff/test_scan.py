"""scan() and redact(): secrets in everything a handoff would send, found by file, line and kind."""

import subprocess
from pathlib import Path

import pytest

from codeyard.handoff.collect import collect
from codeyard.handoff.scan import CONTEXT_PATH, TASK_PATH, Finding, RedactionRefused, redact, scan
from tests.handoff.repos import commit_all, fresh_clone, git

AWS_KEY = "AKIAIOSFODNN7EXAMPLF"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
ANTHROPIC_KEY = "sk-ant-api03-" + "Zx9" * 10
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAuZ3cpQyVv1yXG8sl1kz7Hq0pS3q2sd9F8bb1cQ2n7sYxkqZc\n"
    "p9Qm1Xk2Vb8wH3JrT6nF0aLqE4dUgZc7yW5oPi2sMvN1hK8bJ3tRcYfXeDgQaLw0\n"
    "-----END RSA PRIVATE KEY-----\n"
)


def kinds_at(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(finding.location(), finding.kind) for finding in findings}


def test_ordinary_changes_have_no_findings(work: Path) -> None:
    (work / "app.py").write_text("def total(items):\n    return sum(item.price for item in items)\n")
    (work / "notes.txt").write_text("remember to run the tests before pushing\n")
    assert scan(collect(work), "please look at the failing test in app.py") == []


def test_secrets_in_changes_and_new_files_are_found_by_line_and_kind(work: Path) -> None:
    app = (work / "app.py").read_text().replace("line 30\n", f'TOKEN = "{GITHUB_TOKEN}"\n')
    (work / "app.py").write_text(app)
    (work / "settings.env").write_text(f"DEBUG=1\nAWS_ACCESS_KEY_ID={AWS_KEY}\n")
    (work / "deploy.pem").write_text(PRIVATE_KEY)
    (work / "db.txt").write_text("url = postgres://app:Sup3rS3cret@db.internal:5432/app\n")

    found = kinds_at(scan(collect(work)))

    assert ("app.py:30", "GitHub Token") in found
    assert ("settings.env:2", "AWS Access Key") in found
    assert ("deploy.pem:1", "Private Key") in found
    assert ("db.txt:1", "URL with password") in found
    locations = {location for location, _kind in found}
    assert locations == {"app.py:30", "settings.env:2", "deploy.pem:1", "db.txt:1"}, "one finding per secret"


def test_task_context_unpushed_commits_and_commit_messages_are_scanned(work: Path) -> None:
    (work / "config.py").write_text(f'KEY = "{ANTHROPIC_KEY}"\n')
    sha = commit_all(work, f"wire the client\n\nused token {GITHUB_TOKEN} for now")

    findings = scan(collect(work), f"the staging key is {AWS_KEY}", task=f"deploy\nwith {AWS_KEY}")

    found = kinds_at(findings)
    assert (f"config.py:1 in commit {sha[:12]}", "Anthropic API Key") in found
    assert (f"commit message:3 in commit {sha[:12]}", "GitHub Token") in found
    assert (f"{CONTEXT_PATH}:1", "AWS Access Key") in found
    assert (f"{TASK_PATH}:2", "AWS Access Key") in found
    assert not any(f.redactable for f in findings if f.commit)


def test_binary_content_is_scanned_and_flagged_as_binary(work: Path) -> None:
    (work / "blob.bin").write_bytes(b"\x00\x01\x02" + AWS_KEY.encode() + b"\x00\xff")
    findings = scan(collect(work))
    assert [(f.path, f.line, f.kind, f.binary) for f in findings] == [("blob.bin", None, "AWS Access Key", True)]
    assert findings[0].location() == "blob.bin (binary content)"


def test_the_api_key_itself_is_a_finding(work: Path) -> None:
    api_key = "cog_" + "k" * 8 + "Q1w2E3r4"
    (work / ".env.local").write_text(f"DEVIN_API_KEY={api_key}\n")
    findings = scan(collect(work), known_secrets={"DEVIN_API_KEY": api_key})
    assert (".env.local:1", "value of DEVIN_API_KEY") in kinds_at(findings)


def test_line_numbers_follow_the_hunks_not_lookalike_content(work: Path) -> None:
    # An added line reading "++ b/other.txt" appears in the diff as "+++ b/other.txt": it must not look like a header.
    body = "".join(f"row {n}\n" for n in range(1, 11)) + "++ b/other.txt\n" + f"key={AWS_KEY}\n"
    (work / "data.txt").write_text(body)
    assert kinds_at(scan(collect(work))) == {("data.txt:12", "AWS Access Key")}


def test_redaction_replaces_each_secret_and_the_patch_still_applies(work: Path, remote: Path, tmp_path: Path) -> None:
    app = (work / "app.py").read_text().replace("line 30\n", f'TOKEN = "{GITHUB_TOKEN}"\n')
    (work / "app.py").write_text(app)
    (work / "deploy.pem").write_text(PRIVATE_KEY)
    collected = collect(work)
    context = f"use {AWS_KEY} on staging"

    cleaned, cleaned_context = redact(collected, context, scan(collected, context))

    text = cleaned.patch.decode()
    assert GITHUB_TOKEN not in text and "MIIEowIBAAKCAQEA" not in text
    assert '+TOKEN = "[REDACTED:GitHub Token]"' in text
    assert "+[REDACTED:Private Key]" in text
    assert cleaned_context == "use [REDACTED:AWS Access Key] on staging"
    assert scan(cleaned, cleaned_context) == []
    server = fresh_clone(tmp_path, remote)
    applied = subprocess.run(["git", "-C", str(server), "apply", "-"], input=cleaned.patch, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert 'TOKEN = "[REDACTED:GitHub Token]"' in (server / "app.py").read_text()


def test_redaction_is_refused_for_binary_content_and_unpushed_commits(work: Path) -> None:
    (work / "config.py").write_text(f'KEY = "{ANTHROPIC_KEY}"\n')
    sha = commit_all(work, "add config")
    (work / "blob.bin").write_bytes(b"\x00" + AWS_KEY.encode() + b"\x00")
    (work / "fine.txt").write_text(f"token {GITHUB_TOKEN}\n")
    collected = collect(work)
    findings = scan(collected)

    with pytest.raises(RedactionRefused) as refused:
        redact(collected, "", findings)

    assert {f.location() for f in refused.value.findings} == {
        f"config.py:1 in commit {sha[:12]}",
        "blob.bin (binary content)",
    }
    assert "cannot redact" in str(refused.value)
    assert ANTHROPIC_KEY not in str(refused.value) and ANTHROPIC_KEY not in repr(refused.value.findings)


def test_nothing_in_the_repository_changes_while_scanning(work: Path) -> None:
    (work / "settings.env").write_text(f"AWS_ACCESS_KEY_ID={AWS_KEY}\n")
    status = git(work, "status", "--porcelain")
    scan(collect(work))
    assert git(work, "status", "--porcelain") == status == "?? settings.env"
