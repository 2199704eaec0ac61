"""The `codeyard` command: the root Typer app every command group registers on.

Remote groups (sessions, knowledge, playbooks, secrets, schedules) talk to a server through the SDK,
configured by DEVIN_API_URL, DEVIN_API_KEY and DEVIN_ORG_ID.
"""

import typer

from codeyard.cli import knowledge, playbooks, schedules, secrets, server, sessions, worker
from codeyard.cli.admin import admin_app
from codeyard.cli.handoff import handoff_command

# Tracebacks never show local variables: one of them could be an API key or a secret's value.
app = typer.Typer(
    no_args_is_help=True,
    help="codeyard: self-hosted coding sessions behind a Devin-API-v3-compatible API.",
    pretty_exceptions_show_locals=False,
)
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
