"""The `codeyard` command: the root Typer app every command group registers on.

Remote groups (sessions, knowledge, playbooks, secrets, schedules) talk to a server through the SDK,
configured by DEVIN_API_URL, DEVIN_API_KEY and DEVIN_ORG_ID.
"""

from typing import Annotated

import typer

from codeyard.cli import _help, knowledge, playbooks, schedules, secrets, server, sessions, worker
from codeyard.cli.admin import admin_app
from codeyard.cli.handoff import handoff_command

_help.install()

HELP = (
    "codeyard: self-hosted coding sessions behind a Devin-API-v3-compatible API.\n\n"
    "The client commands (sessions, knowledge, playbooks, secrets, schedules, handoff) read DEVIN_API_URL (the "
    "server, default http://127.0.0.1:8000), DEVIN_API_KEY (a service user's cog_… key) and DEVIN_ORG_ID, the same "
    "variables as Devin's own tools. `serve` and `admin` read the CODEYARD_* settings (`codeyard serve --help`)."
)

# Tracebacks never show local variables: one of them could be an API key or a secret's value.
app = typer.Typer(no_args_is_help=True, help=HELP, pretty_exceptions_show_locals=False)


def _version(value: bool) -> None:
    if value:
        from codeyard import __version__

        typer.echo(f"codeyard {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """codeyard: self-hosted coding sessions behind a Devin-API-v3-compatible API."""


app.add_typer(sessions.app, name="sessions")
app.add_typer(knowledge.app, name="knowledge")
app.add_typer(playbooks.app, name="playbooks")
app.add_typer(secrets.app, name="secrets")
app.add_typer(schedules.app, name="schedules")


def main() -> None:
    """Console-script entry point (`codeyard = codeyard.cli.main:main`)."""
    app()


# other command groups are registered below
server.register(app)
app.add_typer(admin_app, name="admin")
app.command("handoff")(handoff_command)
worker.register(app)

from codeyard.cli import git_connections, webhooks  # noqa: E402 - appended here to keep the list above as it is

app.add_typer(git_connections.app, name="git-connections")
app.add_typer(webhooks.app, name="webhooks")
