"""scan() and redact(): secrets in everything a handoff would send, found by file, line and kind."""

import subprocess
from pathlib import Path

import pytest

from codeyard.handoff.apply import apply_handoff
from codeyard.handoff.collect import collect
from codeyard.handoff.manifest import Manifest
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


def test_ordinary_env_assignments_of_secrets_are_found(work: Path) -> None:
    (work / "deploy.sh").write_text(
        "DB_PASSWORD=Xk9vq2LmP8zT4wR7\n"
        "SECRET_KEY=q8Zr2VtLw9Ks3Pn6\n"
        "export API_TOKEN=Hy7Rb2Kd9Qw4Lm1X\n"
        "STRIPE_SECRET=sk_test_51Hb2Kd9Qw4Lm1XyZ\n"
    )
    (work / ".env.production").write_text('DB_PASSWORD = "Xk9 vq2 LmP8"\n')
    (work / "placeholders.sh").write_text(
        "DB_PASSWORD=${DB_PASSWORD}\nAPI_TOKEN=$TOKEN\nSECRET_KEY=changeme\nAPI_KEY=<your key>\n"
        "DB_PASSWORD=your_password\nTOKEN_TTL=86400000\nSECRET_KEY_FILE=/run/secrets/key\nPASSWORD=xxx\n"
    )

    findings = scan(collect(work))

    assert {(f.location(), f.kind) for f in findings if f.kind == "Secret assignment"} >= {
        ("deploy.sh:1", "Secret assignment"),
        ("deploy.sh:2", "Secret assignment"),
        ("deploy.sh:3", "Secret assignment"),
        ("deploy.sh:4", "Secret assignment"),
        (".env.production:1", "Secret assignment"),
    }
    assert {f.secret_text for f in findings if f.path == "deploy.sh"} == {
        "Xk9vq2LmP8zT4wR7",
        "q8Zr2VtLw9Ks3Pn6",
        "Hy7Rb2Kd9Qw4Lm1X",
        "sk_test_51Hb2Kd9Qw4Lm1XyZ",
    }
    assert [f for f in findings if f.path == "placeholders.sh"] == []


@pytest.mark.parametrize(
    "encoded",
    [
        b"\xff\xfe" + f"aws = {AWS_KEY}\r\n".encode("utf-16-le"),
        f"key: {AWS_KEY}\n".encode("utf-16-be"),
        f"token {GITHUB_TOKEN}\n".encode("utf-16-le"),
    ],
)
def test_utf16_text_is_decoded_and_scanned(work: Path, encoded: bytes) -> None:
    (work / "settings.ini").write_bytes(encoded)

    findings = scan(collect(work))

    assert [(f.path, f.binary) for f in findings] == [("settings.ini", True)]
    assert findings[0].secret_text in (AWS_KEY, GITHUB_TOKEN)


def test_secrets_in_file_directory_and_branch_names_are_found_without_printing_them(work: Path) -> None:
    git(work, "checkout", "--quiet", "-b", f"fix/{AWS_KEY}")
    (work / "committed").mkdir()
    (work / "committed" / f"{AWS_KEY}.txt").write_text("plain\n")
    sha = commit_all(work, "add a file")
    (work / GITHUB_TOKEN).mkdir()
    (work / GITHUB_TOKEN / "notes.txt").write_text("nothing secret\n")
    git(work, "mv", "gone.txt", f"gone-{ANTHROPIC_KEY}.txt")
    collected = collect(work)

    findings = scan(collected)

    assert kinds_at(findings) == {
        ("file name [REDACTED:GitHub Token]/notes.txt", "GitHub Token"),
        ("file name gone-[REDACTED:Anthropic API Key].txt", "Anthropic API Key"),
        (f"file name committed/[REDACTED:AWS Access Key].txt in commit {sha[:12]}", "AWS Access Key"),
        ("branch name fix/[REDACTED:AWS Access Key]", "AWS Access Key"),
    }
    assert not any(secret in f.location() for f in findings for secret in (AWS_KEY, GITHUB_TOKEN, ANTHROPIC_KEY))
    with pytest.raises(RedactionRefused) as refused:
        redact(collected, "", [f for f in findings if f.commit is None])
    assert len(refused.value.findings) == 3


def test_a_nul_byte_in_a_committed_text_file_does_not_break_the_commit_scan(work: Path) -> None:
    # git decides "binary" from the first 8000 bytes only, so this file's patch carries the NUL byte.
    (work / "data.txt").write_bytes(b"x" * 9000 + b"\n\x00 tail\n")
    first = commit_all(work, "data with a NUL")
    (work / "config.py").write_text(f'KEY = "{ANTHROPIC_KEY}"\n')
    second = commit_all(work, "config")

    found = kinds_at(scan(collect(work)))

    assert (f"config.py:1 in commit {second[:12]}", "Anthropic API Key") in found
    assert not any(first[:12] in location for location, _kind in found)


def test_redaction_zeroes_the_blob_ids_of_redacted_files_and_the_server_still_applies_it(
    work: Path, remote: Path, tmp_path: Path
) -> None:
    app = (work / "app.py").read_text().replace("line 30\n", f'TOKEN = "{GITHUB_TOKEN}"\n')
    (work / "app.py").write_text(app)
    (work / "README.md").write_text("# demo, edited\n")
    (work / "pic.bin").write_bytes(b"\x89PNG\x00" * 20)
    collected = collect(work)
    secret_blob = git(work, "hash-object", "app.py")

    cleaned, _context = redact(collected, "", scan(collected))

    text = cleaned.patch.decode(errors="replace")
    assert secret_blob[:7] not in text
    assert "index 0000000..0000000 100644\n--- a/app.py" in text
    assert git(work, "hash-object", "README.md")[:7] in text, "files without secrets keep their blob ids"
    server = fresh_clone(tmp_path, remote)
    manifest = Manifest(str(remote), "main", collected.base_sha, collected.head_sha, None, "handoff.patch", None)
    patch_file = tmp_path / "handoff.patch"
    patch_file.write_bytes(cleaned.patch)
    apply_handoff(server, manifest, {"handoff.patch": patch_file})
    assert 'TOKEN = "[REDACTED:GitHub Token]"' in (server / "app.py").read_text()
    assert (server / "pic.bin").read_bytes() == b"\x89PNG\x00" * 20
