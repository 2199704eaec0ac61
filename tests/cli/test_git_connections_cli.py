"""`codeyard git-connections …` against a real `codeyard serve`: create / list / get / update / delete, `--json`,
the token taken from stdin or an environment variable and never shown (not in any output, not in the log)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from codeyard.cli.main import app
from tests.conftest import LiveServer, start_server, stop_server

TOKEN = "ghp_" + "Zq9Xw8Vu7Ts6Rp5" * 2
NEW_TOKEN = "glpat-" + "Mn4Lk3Jh2Gf1" * 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("cli-git") / "data", {"CODEYARD_RUNNER_ENABLED": "false"})
    yield live
    stop_server(live)


class Cli:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.outputs: list[str] = []

    def run(self, *args: str, code: int = 0, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        result = CliRunner(env={**self.server.env(), **(env or {})}).invoke(app, list(args), input=stdin)
        self.outputs.append(result.output)
        assert result.exit_code == code, f"{args}: {result.output}"
        return result.output

    def json(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.run(*args, "--json", stdin=stdin, env=env))


@pytest.fixture
def cli(server: LiveServer) -> Cli:
    return Cli(server)


def test_git_connection_commands_never_show_the_token(cli: Cli, server: LiveServer) -> None:
    created = cli.json(
        "git-connections", "create", "GitHub.com", "--kind", "github", "--username", "bot", "--token-stdin",
        stdin=TOKEN + "\n",
    )  # fmt: skip
    cid = created["connection_id"]
    assert (created["host"], created["kind"], created["username"]) == ("github.com", "github", "bot")
    assert "token" not in created

    table = cli.run("git-connections", "list")
    assert cid in table and "github.com" in table
    assert [c["connection_id"] for c in cli.json("git-connections", "list")["items"]] == [cid]
    record = cli.run("git-connections", "get", cid)
    assert "github.com" in record and "bot" in record

    updated = cli.json(
        "git-connections", "update", cid, "--api-url", "https://ghe.example.com/api/v3", "--no-username",
        "--token-env", "MY_GIT_TOKEN", env={"MY_GIT_TOKEN": NEW_TOKEN},
    )  # fmt: skip
    assert updated["api_url"] == "https://ghe.example.com/api/v3" and updated["username"] is None
    assert updated["updated_at"] >= created["updated_at"]
    assert cli.json("git-connections", "get", cid)["api_url"] == "https://ghe.example.com/api/v3"

    assert "deleted " + cid in cli.run("git-connections", "delete", cid)
    missing = cli.run("git-connections", "get", cid, code=1)
    assert missing.startswith("error: 404")

    for output in cli.outputs:
        assert TOKEN not in output and NEW_TOKEN not in output
    log = server.log()
    assert TOKEN not in log and NEW_TOKEN not in log


def test_token_from_a_hidden_prompt(cli: Cli) -> None:
    output = cli.run("git-connections", "create", "gitlab.example.com", "--kind", "gitlab", stdin=TOKEN + "\n")
    assert "gitlab.example.com" in output and TOKEN not in output
    cid = next(line.split()[-1] for line in output.splitlines() if "connection_id" in line)
    cli.run("git-connections", "delete", cid)


def test_a_rejected_token_is_not_echoed(cli: Cli) -> None:
    bad = "bad token with spaces " + TOKEN
    error = cli.run("git-connections", "create", "gitea.example.com", "--token-stdin", stdin=bad, code=1)
    assert error.startswith("error: 422") and "token" in error
    assert TOKEN not in error and "with spaces" not in error


def test_usage_errors_send_nothing(cli: Cli) -> None:
    both = cli.run("git-connections", "create", "a.example", "--token-stdin", "--token-env", "X", stdin="t", code=2)
    assert "not both" in both
    unset = cli.run("git-connections", "create", "a.example", "--token-env", "CODEYARD_NO_SUCH_VARIABLE", code=2)
    assert "not set" in unset
    empty = cli.run("git-connections", "create", "a.example", "--token-stdin", stdin="\n", code=2)
    assert "empty" in empty
    nothing = cli.run("git-connections", "update", "gitconn-x", code=2)
    assert "nothing to change" in nothing
    assert cli.json("git-connections", "list")["items"] == []
