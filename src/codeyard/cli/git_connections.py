"""`codeyard git-connections …`: the org's git hosts, used by sessions to clone, push and open pull requests.

The token is never taken from a plain command-line argument (it would stay in the shell history and be visible
in the process list): it comes from stdin, from an environment variable, or from a hidden prompt, and nothing
this command prints contains it (the API never returns it).
"""

import os
import sys
from typing import Annotated

import typer

from codeyard.cli._output import note, print_done, print_json, print_result, print_table, timestamp
from codeyard.cli.remote import AfterOption, FirstOption, JsonFlag, connect
from codeyard.sdk._plain import NOT_GIVEN, GitKind, NotGiven

app = typer.Typer(no_args_is_help=True, help="Git connections: hosts sessions clone from and push to (org admins).")

ConnectionId = Annotated[str, typer.Argument(help="Connection id (gitconn-…).")]
TokenStdin = Annotated[bool, typer.Option("--token-stdin", help="Read the token from stdin.")]
TokenEnv = Annotated[
    str | None, typer.Option("--token-env", metavar="NAME", help="Take the token from environment variable NAME.")
]
ApiUrlOption = Annotated[
    str | None, typer.Option("--api-url", help="The forge's API base URL, when it is not the host's default.")
]
UsernameOption = Annotated[str | None, typer.Option("--username", help="User name sent with the token.")]

SHOWN = ["connection_id", "host", "kind", "api_url", "username", "created_at", "updated_at", "created_by"]


@app.command("list")
def list_(first: FirstOption = None, after: AfterOption = None, json_: JsonFlag = False) -> None:
    """List git connections (one page; tokens are never shown)."""
    with connect() as client:
        page = client.git_connections.list(first=first, after=after)
    if json_:
        print_json(page.to_json_dict())
        return
    columns = [
        ("CONNECTION ID", lambda c: c["connection_id"]),
        ("HOST", lambda c: c["host"]),
        ("KIND", lambda c: c.get("kind")),
        ("API URL", lambda c: c.get("api_url")),
        ("USERNAME", lambda c: c.get("username")),
        ("UPDATED", lambda c: timestamp(c.get("updated_at"))),
    ]
    print_table([c.to_json_dict() for c in page.items], columns)
    if page.has_next_page and page.end_cursor:
        note(f"more: --after {page.end_cursor}")


@app.command()
def get(connection_id: ConnectionId, json_: JsonFlag = False) -> None:
    """Show a git connection."""
    with connect() as client:
        result = client.git_connections.get(connection_id)
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


@app.command()
def create(
    host: Annotated[str, typer.Argument(help="The git host, e.g. github.com or git.example.com:8443.")],
    kind: Annotated[GitKind, typer.Option("--kind", help="The forge, for pull requests.")] = "generic",
    api_url: ApiUrlOption = None,
    username: UsernameOption = None,
    token_stdin: TokenStdin = False,
    token_env: TokenEnv = None,
    json_: JsonFlag = False,
) -> None:
    """Connect a git host. Without --token-stdin or --token-env, the token is asked for with hidden input."""
    token = _token(token_stdin, token_env) or _nonempty(typer.prompt("Token", hide_input=True))
    with connect() as client:
        result = client.git_connections.create(host=host, token=token, kind=kind, api_url=api_url, username=username)
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


@app.command()
def update(
    connection_id: ConnectionId,
    host: Annotated[str | None, typer.Option("--host", help="New host.")] = None,
    kind: Annotated[GitKind | None, typer.Option("--kind", help="New forge kind.")] = None,
    api_url: ApiUrlOption = None,
    no_api_url: Annotated[bool, typer.Option("--no-api-url", help="Use the host's default API URL.")] = False,
    username: UsernameOption = None,
    no_username: Annotated[bool, typer.Option("--no-username", help="Send the token without a user name.")] = False,
    token_stdin: TokenStdin = False,
    token_env: TokenEnv = None,
    json_: JsonFlag = False,
) -> None:
    """Change a git connection: only the options given are changed (--token-stdin / --token-env replace the token)."""
    new_api_url: str | NotGiven | None = _clearable(api_url, no_api_url, "--api-url")
    new_username: str | NotGiven | None = _clearable(username, no_username, "--username")
    token = _token(token_stdin, token_env)
    unchanged = host is None and kind is None and token is None
    if unchanged and isinstance(new_api_url, NotGiven) and isinstance(new_username, NotGiven):
        raise typer.BadParameter("nothing to change: give at least one option")
    with connect() as client:
        result = client.git_connections.update(
            connection_id,
            host=NOT_GIVEN if host is None else host,
            kind=NOT_GIVEN if kind is None else kind,
            api_url=new_api_url,
            username=new_username,
            token=NOT_GIVEN if token is None else token,
        )
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


@app.command()
def delete(connection_id: ConnectionId, json_: JsonFlag = False) -> None:
    """Delete a git connection (sessions then clone that host without credentials)."""
    with connect() as client:
        result = client.git_connections.delete(connection_id)
    print_done(result.to_json_dict(), json_, f"deleted {result.connection_id} ({result.host})")


def _clearable(value: str | None, clear: bool, option: str) -> str | NotGiven | None:
    if value is not None and clear:
        raise typer.BadParameter(f"give {option} or --no-{option.removeprefix('--')}, not both")
    if clear:
        return None
    return NOT_GIVEN if value is None else value


def _token(from_stdin: bool, env_name: str | None) -> str | None:
    """The token from stdin or from an environment variable; None when neither option was given."""
    if from_stdin and env_name is not None:
        raise typer.BadParameter("give --token-stdin or --token-env, not both")
    if from_stdin:
        token = sys.stdin.read().strip()
    elif env_name is not None:
        if env_name not in os.environ:
            raise typer.BadParameter(f"environment variable {env_name} is not set")
        token = os.environ[env_name].strip()
    else:
        return None
    return _nonempty(token)


def _nonempty(token: str) -> str:
    if not token.strip():
        raise typer.BadParameter("the token is empty")
    return token.strip()
