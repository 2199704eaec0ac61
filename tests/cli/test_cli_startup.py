"""The CLI starts light: `--version` and `--help` import neither the SDK's client (httpx2, pydantic) nor rich nor any
of the server stack, and a remote command imports the SDK but not the server stack. Checked in a fresh interpreter,
since one test process has long imported everything."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, free_port

_PROBE = """
import json, sys
from codeyard.cli.main import main
sys.argv = ["codeyard", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""
SERVER_STACK = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "codeyard.api", "codeyard.storage")
HEAVY = (*SERVER_STACK, "rich", "pydantic", "httpx2", "httpx", "codeyard.sdk._client", "detect_secrets", "githubkit")


def imported(*argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DEVIN_API_URL": f"http://127.0.0.1:{free_port()}"}
    env |= {"DEVIN_API_KEY": "cog_" + "x" * 40, "DEVIN_ORG_ID": "org-x", "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)], capture_output=True, text=True, env=env, timeout=60
    )
    marker = done.stderr.rindex("MODULES ")
    return done, set(json.loads(done.stderr[marker + len("MODULES ") :]))


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == name or m.startswith(f"{name}.") for name in names))


@pytest.mark.parametrize(
    "argv",
    [("--version",), ("--help",), ("sessions", "--help"), ("sessions", "create", "--help"), ("secrets", "--help")],
)
def test_version_and_help_import_nothing_heavy(argv: tuple[str, ...]) -> None:
    done, modules = imported(*argv)
    assert ("codeyard " if argv == ("--version",) else "Usage:") in done.stdout, done.stdout + done.stderr
    assert "codeyard.cli.sessions" in modules, "the probe ran the real CLI"
    assert heavy(modules, HEAVY) == []


def test_a_remote_command_imports_the_sdk_but_not_the_server() -> None:
    done, modules = imported("sessions", "list")
    assert "error:" in done.stderr  # nothing listens on that port
    assert "codeyard.sdk._client" in modules and "httpx2" in modules
    assert heavy(modules, SERVER_STACK) == []
