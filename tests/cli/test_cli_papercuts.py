"""A newcomer's papercuts in the CLI, against a real server: a schedule shown once per field with zoned times, a bad
``--cron`` named as ``--cron``, a new key shown apart as "shown once", and usage lines without ``{prompt}`` or
``<bool>``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeyard.cli.main import app
from tests.conftest import REPO, LiveServer

pytestmark = pytest.mark.slow


def codeyard(server: LiveServer | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEYARD_", "DEVIN_"))}
    env |= {"PYTHONPATH": str(REPO / "src"), "TZ": "UTC", "COLUMNS": "120", **(server.env() if server else {})}
    argv = [sys.executable, "-m", "codeyard", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_schedules_create_shows_each_field_once_with_zoned_times(live_server: LiveServer) -> None:
    result = codeyard(live_server, "schedules", "create", "Nightly checks", "--cron", "0 9 * * 1-5")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    fields = [row.split()[0] for row in rows]
    assert len(fields) == len(set(fields)) <= 15
    assert not {"schedule_id", "cron_schedule", "is_enabled"} & set(fields)
    [next_run] = [row for row in rows if row.startswith("next_run_at")]
    assert next_run.rstrip().endswith("UTC")


def test_a_bad_cron_is_named_as_the_cron_option(live_server: LiveServer) -> None:
    result = codeyard(live_server, "schedules", "create", "bad", "--cron", "every day")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --cron: ")
    assert "body" not in result.stderr and "frequency" not in result.stderr.split(":")[1]


def test_a_new_key_is_shown_apart_and_once(tmp_path: Path) -> None:
    org = json.loads(codeyard(None, "admin", "orgs", "create", "demo", "--data-dir", str(tmp_path), "--json").stdout)
    result = codeyard(
        None, "admin", "service-users", "create", "ci-bot", "--role", "org_member", "--org", org["org_id"],
        "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    [key_line] = [line for line in lines if line.strip().startswith("cog_")]
    assert key_line.strip() == key_line.strip().split()[0]  # the key alone on its line
    assert "shown once" in result.stdout
    assert max(len(line) for line in lines) < 100


@pytest.mark.parametrize(
    ("command", "argument"),
    [
        (["sessions", "create"], "PROMPT"),
        (["schedules", "update"], "SCHEDULE_ID"),
        (["admin", "service-users", "create"], "NAME"),
    ],
)
def test_usage_lines_read_plainly(command: list[str], argument: str) -> None:
    result = CliRunner(env={"COLUMNS": "120"}).invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    assert usage.rstrip().endswith(f"[OPTIONS] {argument}")
    assert "{" not in result.stdout and "<bool>" not in result.stdout
