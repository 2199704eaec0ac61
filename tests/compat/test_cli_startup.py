"""The CLI starts without the server stack (issue 13 §6): what `codeyard` imports, `--version`, the help that
names the DEVIN_* variables, and a session URL accepted where an id is expected."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from codeyard import __version__
from codeyard.cli.main import app
from tests.conftest import REPO, LiveServer, start_server, stop_server

SERVER_STACK = ("fastapi", "sqlalchemy", "uvicorn", "openai", "anthropic", "detect_secrets", "alembic", "codeyard.api")


def _loaded_modules(*argv: str) -> set[str]:
    code = (
        "import sys, json\n"
        "from codeyard.cli.main import app\n"
        "try:\n"
        f"    app({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DEVIN_API_URL": "http://127.0.0.1:9", "DEVIN_API_KEY": "k"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [("--help",), ("sessions", "--help"), ("handoff", "--help"), ("serve", "--help")])
def test_client_commands_do_not_load_the_server_stack(argv: tuple[str, ...]) -> None:
    loaded = _loaded_modules(*argv)
    heavy = sorted(m for m in loaded if m.split(".")[0] in SERVER_STACK or m.startswith(SERVER_STACK))
    assert heavy == [], f"codeyard {' '.join(argv)} imported {heavy[:10]}"


def test_version_and_help() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.strip() == f"codeyard {__version__}"
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    for name in ("DEVIN_API_URL", "DEVIN_API_KEY", "DEVIN_ORG_ID"):
        assert name in top
    serve = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "CODEYARD_MODEL_BASE_URL" in serve
    assert "CODEYARD_MODEL:" in serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("cli-url") / "data", {"CODEYARD_RUNNER_ENABLED": "false"})
    yield live
    stop_server(live)


def test_a_session_url_works_as_an_id(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    created = json.loads(runner.invoke(app, ["sessions", "create", "from a url", "--json"]).output)
    url = created["url"]
    assert "/sessions/" in url
    for pasted in (url, url + "?tab=messages", url + "/", created["session_id"]):
        result = runner.invoke(app, ["sessions", "get", pasted, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["session_id"] == created["session_id"]
