"""``codeyard handoff``: send the local git work (unpushed commits, uncommitted and untracked files) to a session.

Exit codes: 0 sent (with ``--follow``: the session finished or waits for the user), 1 error (with ``--follow``: the
session failed or was suspended), 2 usage, 3 secrets found and nothing sent. Everything is collected and scanned
before the first request, so a blocked handoff never reaches the server. The user's own DEVIN_API_KEY is never
sent, not even with ``--allow-secrets``.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from codeyard.cli._output import fail, print_json, print_json_line
from codeyard.cli.remote import connect
from codeyard.cli.sessions import DONE_DETAILS, DONE_STATUSES, FAILED_STATUSES, _new_messages, _print_message

if TYPE_CHECKING:  # the scanner (detect_secrets) and the SDK are imported when a handoff runs, not at start-up
    from codeyard.handoff.collect import Collected
    from codeyard.handoff.scan import Finding
    from codeyard.handoff.submit import Submitted
    from codeyard.sdk import Client
    from codeyard.sdk.types import SessionResponse

EXIT_USAGE = 2
EXIT_SECRETS = 3
FOLLOW_INTERVAL = 5.0
_API_KEY = "DEVIN_API_KEY"


def handoff_command(
    task: Annotated[str, typer.Argument(help="What the session should do with the handed-off work.")],
    context: Annotated[str, typer.Option("--context", help="Extra context for the agent (scanned too).")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag the session (repeatable).")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Print messages until the session settles.")] = False,
    redact: Annotated[bool, typer.Option("--redact", help="Replace found secrets with [REDACTED:<kind>].")] = False,
    allow_secrets: Annotated[bool, typer.Option("--allow-secrets", help="Send found secrets as they are.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session response as JSON.")] = False,
) -> None:
    """Hand the current git work tree to a new session (DEVIN_API_URL, DEVIN_API_KEY, DEVIN_ORG_ID)."""
    if redact and allow_secrets:
        raise typer.BadParameter("--redact and --allow-secrets exclude each other")
    if not task.strip():
        raise typer.BadParameter("the task is empty", param_hint="TASK")
    from codeyard.handoff.submit import SubmitError, submit

    with connect() as client:
        collected, task, context = _prepare(task, context, redact=redact, allow_secrets=allow_secrets, as_json=as_json)
        try:
            sent = submit(client, task, context, tag or [], collected)
        except SubmitError as exc:
            raise fail(str(exc)) from None
        typer.echo(f"Session {sent.session.session_id} started: {sent.session.url}", err=True)
        session = _follow(client, sent, as_json) if follow else sent.session
    if as_json:
        (print_json_line if follow else print_json)(session.to_json_dict())
    elif not follow:
        typer.echo(session.url)
    else:
        detail = f" ({session.status_detail})" if session.status_detail else ""
        typer.echo(f"session {session.session_id} is {session.status}{detail}")
    raise typer.Exit(1 if follow and session.status in FAILED_STATUSES else 0)


def _prepare(
    task: str, context: str, *, redact: bool, allow_secrets: bool, as_json: bool
) -> tuple[Collected, str, str]:
    """Collect the work tree, scan it, and redact or stop on secrets; print what will be sent."""
    from codeyard.handoff.collect import CollectError, collect
    from codeyard.handoff.git import GitError
    from codeyard.handoff.prompt import summary_lines
    from codeyard.handoff.scan import RedactionRefused, ScanError, redact as redact_secrets, redact_text, scan

    try:
        collected = collect(Path.cwd())
        api_key = {_API_KEY: os.environ.get(_API_KEY, "").strip()}
        findings = scan(collected, context, known_secrets=api_key, task=task)
    except CollectError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except (GitError, ScanError) as exc:
        raise fail(str(exc)) from None
    own_key = [finding for finding in findings if finding.kind == f"value of {_API_KEY}"]
    if allow_secrets and own_key:
        _stop_on_secrets(
            own_key,
            as_json,
            f"Nothing was sent: the work contains your own {_API_KEY}, which is never sent, even with --allow-secrets. "
            "Remove it (or use --redact).",
        )
    if findings and not allow_secrets:
        if not redact:
            _stop_on_secrets(findings, as_json, "Nothing was sent. Use --redact or --allow-secrets to send anyway.")
        try:
            collected, context = redact_secrets(collected, context, findings)
            task = redact_text(task, findings)
        except RedactionRefused as exc:
            _stop_on_secrets(
                exc.findings,
                as_json,
                "Nothing was sent: a secret in binary content, in a name (file, directory, branch, remote URL) or in "
                "an unpushed commit cannot be redacted. Remove it (rename, rewrite the commit) or use --allow-secrets.",
            )
        typer.echo(f"Redacted {len(findings)} secret(s).", err=True)
    typer.echo("Sending this handoff:", err=True)
    for line in summary_lines(collected):
        typer.echo(textwrap.indent(line, "  "), err=True)
    if context.strip():
        typer.echo(f"  Context: {len(context.strip())} characters", err=True)
    return collected, task, context


def _stop_on_secrets(findings: list[Finding], as_json: bool, advice: str) -> NoReturn:
    """Say where each secret is and its kind (never the secret itself), then exit 3."""
    if as_json:
        rows = [{"path": f.path, "line": f.line, "commit": f.commit, "name": f.name, "kind": f.kind} for f in findings]
        print_json({"error": "secrets_found", "findings": rows})
    typer.echo(f"Found {len(findings)} secret(s):", err=True)
    for finding in findings:
        typer.echo(f"  {finding.location()}: {finding.kind}", err=True)
    typer.echo(advice, err=True)
    raise typer.Exit(EXIT_SECRETS)


def _follow(client: Client, sent: Submitted, as_json: bool) -> SessionResponse:
    """Print new messages (not the prompt itself) until the session ends, fails, is suspended or waits for the user."""
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        # Status first, messages second: a message written before the session settled is never missed.
        session = client.sessions.get(sent.session.session_id)
        new, cursor = _new_messages(client, session.session_id, cursor, seen)
        for message in new:
            if not (message.source == "user" and message.message.strip() == sent.prompt.strip()):
                _print_message(message, as_json)
        if session.status in DONE_STATUSES or session.status_detail in DONE_DETAILS:
            return session
        time.sleep(FOLLOW_INTERVAL)
