"""`codeyard secrets …`: values sessions get as environment variables.

A value is never taken from a plain command-line argument (it would stay in the shell history and be
visible in the process list): it comes from stdin, from an environment variable, or from a hidden prompt.
"""

import os
import sys
from typing import Annotated

import typer

from codeyard.cli._output import note, print_done, print_json, print_result, print_table, timestamp
from codeyard.cli.remote import AfterOption, FirstOption, JsonFlag, connect
from codeyard.sdk._secret_type import SecretType

app = typer.Typer(no_args_is_help=True, help="Secrets (values are write-only).")


@app.command("list")
def list_(first: FirstOption = None, after: AfterOption = None, json_: JsonFlag = False) -> None:
    """List secrets (one page; values are never shown)."""
    with connect() as client:
        page = client.secrets.list(first=first, after=after)
    if json_:
        print_json(page.to_json_dict())
        return
    columns = [
        ("SECRET ID", lambda s: s["secret_id"]),
        ("KEY", lambda s: s["key"]),
        ("TYPE", lambda s: s.get("secret_type")),
        ("SENSITIVE", lambda s: s.get("is_sensitive")),
        ("NOTE", lambda s: s.get("note")),
        ("CREATED", lambda s: timestamp(s.get("created_at"))),
    ]
    print_table([s.to_json_dict() for s in page.items], columns)
    if page.has_next_page and page.end_cursor:
        note(f"more: --after {page.end_cursor}")


@app.command()
def create(
    key: Annotated[str, typer.Argument(help="Name of the secret (the environment variable sessions see).")],
    value_stdin: Annotated[bool, typer.Option("--value-stdin", help="Read the value from stdin.")] = False,
    value_env: Annotated[
        str | None, typer.Option("--value-env", metavar="NAME", help="Take the value from environment variable NAME.")
    ] = None,
    secret_type: Annotated[SecretType, typer.Option("--type", help="Kind of secret.")] = "key-value",
    not_sensitive: Annotated[
        bool, typer.Option("--not-sensitive", help="Do not redact the value from session output.")
    ] = False,
    note_text: Annotated[str | None, typer.Option("--note", help="What the secret is for.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Store a secret. Without --value-stdin or --value-env, the value is asked for with hidden input."""
    value = _value(value_stdin, value_env)
    with connect() as client:
        result = client.secrets.create(
            key=key, value=value, type=secret_type, is_sensitive=not not_sensitive, note=note_text
        )
    print_result(result.to_json_dict(), json_)


def _value(from_stdin: bool, env_name: str | None) -> str:
    if from_stdin and env_name is not None:
        raise typer.BadParameter("give --value-stdin or --value-env, not both")
    if from_stdin:
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    elif env_name is not None:
        if env_name not in os.environ:
            raise typer.BadParameter(f"environment variable {env_name} is not set")
        value = os.environ[env_name]
    else:
        value = typer.prompt("Value", hide_input=True, confirmation_prompt=True)
    if not value:
        raise typer.BadParameter("the secret's value is empty")
    return value


@app.command()
def delete(secret_id: Annotated[str, typer.Argument(help="Secret id (secret-…).")], json_: JsonFlag = False) -> None:
    """Delete a secret."""
    with connect() as client:
        result = client.secrets.delete(secret_id)
    print_done(result.to_json_dict(), json_, f"deleted {result.secret_id} ({result.key})")
