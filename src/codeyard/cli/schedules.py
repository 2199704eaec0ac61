"""`codeyard schedules …`: sessions started on a cron schedule (in a time zone) or once at a given time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from codeyard.cli._output import fail, note, print_done, print_json, print_result, print_table, timestamp
from codeyard.cli.remote import JsonFlag, connect

if TYPE_CHECKING:  # the SDK is imported by the commands that call the server, not for `--help`
    from codeyard.sdk.types import ScheduleFields

app = typer.Typer(no_args_is_help=True, help="Scheduled sessions.")

ScheduleId = Annotated[str, typer.Argument(help="Schedule id (sched-…).")]
NameOption = Annotated[str | None, typer.Option("--name", help="Name (derived from the prompt when absent).")]
CronOption = Annotated[str | None, typer.Option("--cron", help="5-field cron expression, e.g. '0 9 * * MON-FRI'.")]
ZoneOption = Annotated[str | None, typer.Option("--timezone", help="IANA zone the cron runs in (default UTC).")]
AtOption = Annotated[str | None, typer.Option("--at", help="Run once at this ISO-8601 time instead of a cron.")]
PlaybookOption = Annotated[str | None, typer.Option("--playbook", help="Playbook id the sessions follow.")]
TagOption = Annotated[list[str] | None, typer.Option("--tag", help="Tag for the sessions (repeatable).")]
NotifyOption = Annotated[str | None, typer.Option("--notify-on", help="always, failure or never.")]


SHOWN = [
    "scheduled_session_id",
    "name",
    "prompt",
    "schedule_type",
    "frequency",
    "scheduled_at",
    "timezone",
    "enabled",
    "next_run_at",
    "playbook_id",
    "tags",
    "notify_on",
    "created_at",
    "updated_at",
]
"""What a schedule's table shows: each field once (the response repeats several under a second, aliased name,
``schedule_id``, ``cron_schedule``, ``is_enabled``…, which ``--json`` keeps)."""

_OPTION_OF = {
    "frequency": "--cron",
    "cron_schedule": "--cron",
    "scheduled_at": "--at",
    "schedule_type": "--cron/--at",
    "timezone": "--timezone",
    "name": "--name",
    "notify_on": "--notify-on",
    "playbook_id": "--playbook",
    "tags": "--tag",
    "prompt": "PROMPT",
}


@contextlib.contextmanager
def _naming_options() -> Iterator[None]:
    """A field the server refused (422) is named by the option that set it: ``--cron``, not ``body.frequency``."""
    from codeyard.sdk import UnprocessableEntityError

    try:
        yield
    except UnprocessableEntityError as exc:
        problems = exc.body.get("detail") if isinstance(exc.body, dict) else None
        if not isinstance(problems, list) or not problems or not isinstance(problems[0], dict):
            raise
        lines = []
        for problem in problems:
            field = str((problem.get("loc") or ["?"])[-1])
            lines.append(f"{_OPTION_OF.get(field, field)}: {problem.get('msg', 'invalid')}")
        raise fail("; ".join(lines)) from None


@app.command("list")
def list_(
    limit: Annotated[int | None, typer.Option(min=1, max=200, help="Page size (server default 200).")] = None,
    offset: Annotated[int | None, typer.Option(min=0, help="Skip this many schedules.")] = None,
    json_: JsonFlag = False,
) -> None:
    """List schedules (one page)."""
    with connect() as client:
        page = client.schedules.list(limit=limit, offset=offset)
    if json_:
        print_json(page.to_json_dict())
        return
    columns = [
        ("SCHEDULE ID", lambda s: s["scheduled_session_id"]),
        ("NAME", lambda s: s.get("name")),
        ("WHEN", lambda s: s.get("frequency") or s.get("cron_schedule") or timestamp(s.get("scheduled_at"))),
        ("TIMEZONE", lambda s: s.get("timezone")),
        ("ENABLED", lambda s: s.get("enabled")),
        ("NEXT RUN", lambda s: timestamp(s.get("next_run_at"))),
    ]
    print_table([s.to_json_dict() for s in page.items], columns)
    if page.has_next_page:
        note(f"more: --offset {(offset or 0) + len(page.items)}")


@app.command()
def get(schedule_id: ScheduleId, json_: JsonFlag = False) -> None:
    """Show a schedule."""
    with connect() as client:
        result = client.schedules.get(schedule_id)
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


@app.command()
def create(
    prompt: Annotated[str, typer.Argument(help="The task each session gets.")],
    name: NameOption = None,
    cron: CronOption = None,
    timezone: ZoneOption = None,
    at: AtOption = None,
    playbook: PlaybookOption = None,
    tag: TagOption = None,
    notify_on: NotifyOption = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Create a schedule: give --cron (recurring) or --at (one time)."""
    if (cron is None) == (at is None):
        raise typer.BadParameter("give exactly one of --cron (recurring) and --at (one time)")
    fields = _fields(name, cron, timezone, at, tag, notify_on, enabled=False if disabled else None)
    if playbook is not None:
        fields["playbook_id"] = playbook
    with connect() as client, _naming_options():
        result = client.schedules.create(prompt=prompt, **fields)
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


@app.command()
def update(
    schedule_id: ScheduleId,
    prompt: Annotated[str | None, typer.Option("--prompt", help="New task.")] = None,
    name: NameOption = None,
    cron: CronOption = None,
    timezone: ZoneOption = None,
    at: AtOption = None,
    playbook: PlaybookOption = None,
    no_playbook: Annotated[bool, typer.Option("--no-playbook", help="Stop following a playbook.")] = False,
    tag: TagOption = None,
    notify_on: NotifyOption = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="Switch the schedule on or off.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Change a schedule: only the options given are changed."""
    if playbook is not None and no_playbook:
        raise typer.BadParameter("give --playbook or --no-playbook, not both")
    if cron is not None and at is not None:
        raise typer.BadParameter("give --cron (recurring) or --at (one time), not both")
    fields = _fields(name, cron, timezone, at, tag, notify_on, enabled=enabled)
    if playbook is not None or no_playbook:
        fields["playbook_id"] = playbook
    if not fields and prompt is None:
        raise typer.BadParameter("nothing to change: give at least one option")
    with connect() as client, _naming_options():
        if prompt is None:
            result = client.schedules.update(schedule_id, **fields)
        else:
            result = client.schedules.update(schedule_id, prompt=prompt, **fields)
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


def _fields(
    name: str | None,
    cron: str | None,
    timezone: str | None,
    at: str | None,
    tags: list[str] | None,
    notify_on: str | None,
    *,
    enabled: bool | None,
) -> ScheduleFields:
    """The schedule fields for the options given (options left out are not sent)."""
    fields: ScheduleFields = {}
    if name is not None:
        fields["name"] = name
    if cron is not None:
        fields["schedule_type"] = "recurring"
        fields["frequency"] = cron
    if at is not None:
        fields["schedule_type"] = "one_time"
        fields["scheduled_at"] = at
    if timezone is not None:
        fields["timezone"] = timezone
    if tags:
        fields["tags"] = tags
    if notify_on is not None:
        fields["notify_on"] = notify_on
    if enabled is not None:
        fields["enabled"] = enabled
    return fields


@app.command()
def delete(schedule_id: ScheduleId, json_: JsonFlag = False) -> None:
    """Delete a schedule."""
    with connect() as client:
        result = client.schedules.delete(schedule_id)
    print_done(result.to_json_dict(), json_, f"deleted {result.scheduled_session_id}")
