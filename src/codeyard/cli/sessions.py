"""`codeyard sessions …`: start sessions, follow and steer them, read their messages and files."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codeyard.cli import session_changes
from codeyard.cli._output import note, print_json, print_json_line, print_result, print_table, timestamp
from codeyard.cli.remote import AfterOption, FirstOption, JsonFlag, connect

if TYPE_CHECKING:  # the SDK is imported by the commands that call the server, not for `--help`
    from codeyard.sdk import Client, NotGiven
    from codeyard.sdk.types import SessionEvent, SessionMessage, SessionResponse

app = typer.Typer(no_args_is_help=True, help="Create, follow and steer sessions.")

SUMMARY_FIELDS = ("session_id", "status", "status_detail", "title", "url")
DONE_STATUSES = frozenset({"exit", "error", "suspended"})
DONE_DETAILS = frozenset({"waiting_for_user", "finished"})
FAILED_STATUSES = frozenset({"error", "suspended"})
"""Where following a session ends with exit code 1 (`sessions watch` and `handoff --follow` agree)."""


def session_id_argument(value: str) -> str:
    """A session id as given, or the id in a pasted session URL (``https://…/sessions/<hex>?…``)."""
    text = value.strip()
    if "/sessions/" in text:
        text = text.split("/sessions/", 1)[1].split("?", 1)[0].split("#", 1)[0].strip("/").split("/", 1)[0]
    return text


SessionId = Annotated[
    str, typer.Argument(help="Session id (devin-…), or the session's URL.", callback=session_id_argument)
]
AttachOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--attach", exists=True, dir_okay=False, help="Upload a file and give it to the session (repeatable)."
    ),
]

SESSION_COLUMNS = [
    ("SESSION ID", lambda s: s["session_id"]),
    ("STATUS", lambda s: s["status"]),
    ("DETAIL", lambda s: s.get("status_detail")),
    ("UPDATED", lambda s: timestamp(s.get("updated_at"))),
    ("TITLE", lambda s: s.get("title")),
]


def _print_session(session: SessionResponse, json_: bool, fields: tuple[str, ...] | None = SUMMARY_FIELDS) -> None:
    print_result(session.to_json_dict(), json_, fields)


def _upload_all(client: Client, files: list[Path] | None) -> list[str] | None:
    return [client.attachments.upload(path).url for path in files] if files else None


def _ids(values: list[str] | None, none: bool) -> list[str] | NotGiven:
    """Repeated `--x-id` values, `[]` for `--no-x` (none at all), or not given (the server's "all")."""
    if none and values:
        raise typer.BadParameter("give ids or --no-…, not both")
    if none:
        return []
    from codeyard.sdk import NOT_GIVEN

    return values if values else NOT_GIVEN


@app.command()
def create(
    prompt: Annotated[str, typer.Argument(help="The task. '-' reads it from stdin.")],
    title: Annotated[str | None, typer.Option(help="Title (generated from the prompt when absent).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    repo: Annotated[list[str] | None, typer.Option("--repo", help="Repository to clone (repeatable).")] = None,
    playbook: Annotated[str | None, typer.Option("--playbook", help="Playbook id to follow.")] = None,
    knowledge_id: Annotated[
        list[str] | None, typer.Option("--knowledge-id", help="Use only these notes (repeatable; default all).")
    ] = None,
    no_knowledge: Annotated[bool, typer.Option("--no-knowledge", help="Use no knowledge notes.")] = False,
    secret_id: Annotated[
        list[str] | None, typer.Option("--secret-id", help="Expose only these secrets (repeatable; default all).")
    ] = None,
    no_secrets: Annotated[bool, typer.Option("--no-secrets", help="Expose no stored secrets.")] = False,
    max_acu: Annotated[int | None, typer.Option("--max-acu", min=1, help="Suspend after this many ACUs.")] = None,
    attach: AttachOption = None,
    json_: JsonFlag = False,
) -> None:
    """Start a session."""
    text = sys.stdin.read() if prompt == "-" else prompt
    with connect() as client:
        session = client.sessions.create(
            prompt=text,
            title=title,
            tags=tag,
            repos=repo,
            playbook_id=playbook,
            knowledge_ids=_ids(knowledge_id, no_knowledge),
            secret_ids=_ids(secret_id, no_secrets),
            max_acu_limit=max_acu,
            attachment_urls=_upload_all(client, attach),
        )
    _print_session(session, json_)


@app.command()
def get(session_id: SessionId, json_: JsonFlag = False) -> None:
    """Show a session."""
    with connect() as client:
        session = client.sessions.get(session_id)
    _print_session(session, json_, fields=None)


@app.command("list")
def list_(
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only sessions with this tag (repeatable).")] = None,
    archived: Annotated[bool | None, typer.Option("--archived/--not-archived", help="Filter on archiving.")] = None,
    first: FirstOption = 20,
    after: AfterOption = None,
    json_: JsonFlag = False,
) -> None:
    """List sessions, newest first (one page)."""
    with connect() as client:
        page = client.sessions.list(first=first, after=after, is_archived=archived, tags=tag)
    if json_:
        print_json(page.to_json_dict())
        return
    print_table([s.to_json_dict() for s in page.items], SESSION_COLUMNS)
    if page.has_next_page and page.end_cursor:
        note(f"more: --after {page.end_cursor}")


MESSAGE_COLUMNS = [
    ("TIME", lambda m: timestamp(m["created_at"])),
    ("FROM", lambda m: m["source"]),
    ("MESSAGE", lambda m: m["message"]),
]


@app.command()
def messages(session_id: SessionId, json_: JsonFlag = False) -> None:
    """Show every message of a session, oldest first (--json: a JSON array of them)."""
    with connect() as client:
        items = [m.to_json_dict() for m in client.sessions.iter_messages(session_id)]
    if json_:
        print_json(items)
    else:
        print_table(items, MESSAGE_COLUMNS)


@app.command()
def send(
    session_id: SessionId,
    message: Annotated[str, typer.Argument(help="The message. '-' reads it from stdin.")],
    attach: AttachOption = None,
    json_: JsonFlag = False,
) -> None:
    """Send a message to a session (a finished or suspended session resumes)."""
    text = sys.stdin.read() if message == "-" else message
    with connect() as client:
        session = client.sessions.send_message(session_id, text, attachment_urls=_upload_all(client, attach))
    _print_session(session, json_)


@app.command()
def watch(
    session_id: SessionId,
    interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds between polls, for servers without live streams.")
    ] = 5.0,
    json_: Annotated[
        bool, typer.Option("--json", help="Print each event, then the final session, as one JSON line each.")
    ] = False,
) -> None:
    """Show each step live (commands and their output, file edits) and the messages, until the session ends, is
    suspended or waits for you.

    Exits 0 when the session finished or waits for you, 1 when it ended in error or was suspended.
    """
    from codeyard.sdk import NotFoundError

    with connect() as client:
        try:
            session = _follow(client, session_id, json_)
        except NotFoundError:  # a server without event streams (Devin's cloud): poll the messages
            session = _poll(client, session_id, interval, json_)
    if json_:
        print_json_line(session.to_json_dict())
    else:
        detail = f" ({session.status_detail})" if session.status_detail else ""
        typer.echo(f"session {session.session_id} is {session.status}{detail}")
    if session.status in FAILED_STATUSES:
        raise typer.Exit(1)


def _done(session: SessionResponse) -> bool:
    return session.status in DONE_STATUSES or session.status_detail in DONE_DETAILS


def _follow(client: Client, session_id: str, json_: bool) -> SessionResponse:
    """Print the session's events so far, then each new one from its live stream, until it is done."""
    client.sessions.events(session_id, first=1)  # a server without events answers 404 here
    session = client.sessions.get(session_id)  # before the listing: every event up to a final status is in it
    last = "0"
    for event in client.sessions.iter_events(session_id):
        _print_event(event, json_)
        last = event.event_id
    if _done(session):
        return session
    for event in client.sessions.stream(session_id, last_event_id=last):
        _print_event(event, json_)
        if event.event_type == "status_changed" and (
            event.details.get("status") in DONE_STATUSES or event.details.get("status_detail") in DONE_DETAILS
        ):
            break
    return client.sessions.get(session_id)


def _poll(client: Client, session_id: str, interval: float, json_: bool) -> SessionResponse:
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        # Status first, messages second: a message written before the session stopped is never missed.
        session = client.sessions.get(session_id)
        new, cursor = _new_messages(client, session_id, cursor, seen)
        for message in new:
            _print_message(message, json_)
        if _done(session):
            return session
        time.sleep(interval)


OUTPUT_LINES = 5
DIFF_LINES = 10


def _print_event(event: SessionEvent, json_: bool) -> None:
    """One event as a few readable lines: a command with the head of its output, an edit with its diff."""
    if json_:
        print_json_line(event.to_json_dict())
        return
    when = _clock(event.created_at)
    details = event.details
    kind = event.event_type
    if kind in ("devin_message", "user_message") and "message" in details:
        source = "devin" if kind == "devin_message" else "user"
        typer.echo(f"[{when}] {source}: " + str(details["message"]).replace("\n", "\n    "))
    elif kind == "command_run" and "command" in details:
        typer.echo(f"[{when}] $ {details['command']}")
        _indented(str(details.get("output") or "").splitlines(), OUTPUT_LINES, "| ")
        typer.echo(f"    → {_outcome(details)}")
    elif kind.startswith("file_") and details.get("diff"):
        typer.echo(f"[{when}] {event.summary}")
        lines = [line for line in str(details["diff"]).splitlines() if not line.startswith(("---", "+++"))]
        _indented(lines, DIFF_LINES, "")
    elif kind == "status_changed" and "status" in details:
        detail = f"/{details['status_detail']}" if details.get("status_detail") else ""
        typer.echo(f"[{when}] status: {details['status']}{detail}")
    else:
        typer.echo(f"[{when}] {event.summary or kind}")


def _indented(lines: list[str], limit: int, prefix: str) -> None:
    for line in lines[:limit]:
        typer.echo(f"    {prefix}{line}")
    if len(lines) > limit:
        typer.echo(f"    {prefix}… {len(lines) - limit} more lines")


def _outcome(details: dict[str, object]) -> str:
    if details.get("timed_out"):
        status = "timed out"
    elif details.get("cancelled"):
        status = "stopped"
    else:
        status = f"exit {details.get('exit_code')}"
    duration = details.get("duration_s")
    return f"{status} in {duration:.1f} s" if isinstance(duration, int | float) else status


def _clock(epoch: int) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%H:%M:%S")


EVENT_COLUMNS = [
    ("TIME", lambda e: timestamp(e["created_at"])),
    ("TYPE", lambda e: e["event_type"]),
    ("SUMMARY", lambda e: e.get("summary")),
]


@app.command()
def events(
    session_id: SessionId,
    event_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only events of this type (repeatable).")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="A JSON array of the events, with their details.")] = False,
) -> None:
    """Show everything that happened in a session, oldest first (commands, edits, messages, status changes)."""
    with connect() as client:
        items = [e.to_json_dict() for e in client.sessions.iter_events(session_id, first=200, event_types=event_type)]
    if json_:
        print_json(items)
    else:
        print_table(items, EVENT_COLUMNS)


def _new_messages(
    client: Client, session_id: str, cursor: str | None, seen: set[str]
) -> tuple[list[SessionMessage], str | None]:
    """Messages not seen yet, and the furthest cursor to resume from (a last page may have none)."""
    new: list[SessionMessage] = []
    while True:
        page = client.sessions.messages(session_id, after=cursor)
        for message in page.items:
            if message.event_id not in seen:
                seen.add(message.event_id)
                new.append(message)
        cursor = page.end_cursor or cursor
        if not page.has_next_page or not page.end_cursor:
            return new, cursor


def _print_message(message: SessionMessage, json_: bool) -> None:
    if json_:
        print_json_line(message.to_json_dict())
        return
    when = _clock(message.created_at)
    body = message.message.replace("\n", "\n    ")
    typer.echo(f"[{when}] {message.source}: {body}")


@app.command()
def attachments(session_id: SessionId, json_: JsonFlag = False) -> None:
    """List the files of a session (uploaded by you or attached by the agent)."""
    with connect() as client:
        items = [a.to_json_dict() for a in client.sessions.attachments(session_id)]
    if json_:
        print_json(items)
        return
    columns = [
        ("ATTACHMENT ID", lambda a: a["attachment_id"]),
        ("NAME", lambda a: a["name"]),
        ("SOURCE", lambda a: a.get("source")),
        ("TYPE", lambda a: a.get("content_type")),
        ("URL", lambda a: a["url"]),
    ]
    print_table(items, columns)


@app.command()
def archive(session_id: SessionId, json_: JsonFlag = False) -> None:
    """Archive a session (stopping it if it runs); it then takes no more messages."""
    with connect() as client:
        session = client.sessions.archive(session_id)
    _print_session(session, json_)


@app.command()
def terminate(
    session_id: SessionId,
    archive: Annotated[bool, typer.Option("--archive", help="Archive it too.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Stop a session for good (it cannot be resumed)."""
    with connect() as client:
        session = client.sessions.terminate(session_id, archive=archive)
    _print_session(session, json_)


@app.command()
def pull(
    session_id: SessionId,
    repo: Annotated[str | None, typer.Option("--repo", help="Which repository (as given, or its directory).")] = None,
    apply_patch: Annotated[bool, typer.Option("--apply-patch", help="Also apply the uncommitted work.")] = False,
) -> None:
    """Bring the session's commits into this clone as branch codeyard/<id> (the inverse of `codeyard handoff`)."""
    with connect() as client:
        session_changes.pull(client, session_id, repo, apply_patch, Path.cwd())


@app.command()
def diff(session_id: SessionId, json_: JsonFlag = False) -> None:
    """Show what the session changed: its commits, their diff (inside a clone) and its uncommitted work."""
    with connect() as client:
        session_changes.diff(client, session_id, json_, Path.cwd())
