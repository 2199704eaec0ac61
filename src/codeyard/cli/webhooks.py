"""`codeyard webhooks …`: signed deliveries of the org's events to a URL (org admins), and each webhook's
deliveries with their latest attempts."""

from typing import Annotated

import typer

from codeyard.cli._output import note, print_done, print_json, print_result, print_table, timestamp
from codeyard.cli.remote import AfterOption, FirstOption, JsonFlag, connect
from codeyard.sdk._plain import NOT_GIVEN, NotGiven

app = typer.Typer(no_args_is_help=True, help="Webhooks: signed POSTs of the org's events (org admins).")

WebhookId = Annotated[str, typer.Argument(help="Webhook id (webhook-…).")]
TypeOption = Annotated[
    list[str] | None,
    typer.Option("--type", help="Event type to deliver, e.g. session.status_changed (repeatable; default: all)."),
]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="What the webhook is for.")]
SHOWN = ["webhook_id", "url", "event_types", "description", "created_at", "updated_at"]


@app.command("list")
def list_(first: FirstOption = None, after: AfterOption = None, json_: JsonFlag = False) -> None:
    """List webhooks (one page)."""
    with connect() as client:
        page = client.webhooks.list(first=first, after=after)
    if json_:
        print_json(page.to_json_dict())
        return
    columns = [
        ("WEBHOOK ID", lambda w: w["webhook_id"]),
        ("URL", lambda w: w["url"]),
        ("TYPES", lambda w: ", ".join(w.get("event_types") or ["(all)"])),
        ("DESCRIPTION", lambda w: w.get("description")),
        ("CREATED", lambda w: timestamp(w.get("created_at"))),
    ]
    print_table([w.to_json_dict() for w in page.items], columns)
    if page.has_next_page and page.end_cursor:
        note(f"more: --after {page.end_cursor}")


@app.command()
def create(
    url: Annotated[str, typer.Argument(help="The http(s) URL to POST to.")],
    event_type: TypeOption = None,
    description: DescriptionOption = None,
    json_: JsonFlag = False,
) -> None:
    """Register a webhook. Its signing secret is printed this once: keep it to verify the deliveries."""
    with connect() as client:
        result = client.webhooks.create(url=url, event_types=event_type or None, description=description)
    print_result(result.to_json_dict(), json_, None if json_ else [*SHOWN, "secret"])
    if not json_:
        note("the secret is shown only now: store it where the receiver verifies signatures")


@app.command()
def get(webhook_id: WebhookId, json_: JsonFlag = False) -> None:
    """Show a webhook (never its secret)."""
    with connect() as client:
        result = client.webhooks.get(webhook_id)
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


@app.command()
def update(
    webhook_id: WebhookId,
    url: Annotated[str | None, typer.Option("--url", help="New target URL.")] = None,
    event_type: TypeOption = None,
    all_types: Annotated[bool, typer.Option("--all-types", help="Deliver every event type.")] = False,
    description: DescriptionOption = None,
    json_: JsonFlag = False,
) -> None:
    """Change a webhook: only the options given are changed."""
    if event_type and all_types:
        raise typer.BadParameter("give --type or --all-types, not both")
    types: list[str] | NotGiven | None = None if all_types else (event_type or NOT_GIVEN)
    if url is None and description is None and isinstance(types, NotGiven):
        raise typer.BadParameter("nothing to change: give at least one option")
    with connect() as client:
        result = client.webhooks.update(
            webhook_id,
            url=NOT_GIVEN if url is None else url,
            event_types=types,
            description=NOT_GIVEN if description is None else description,
        )
    print_result(result.to_json_dict(), json_, None if json_ else SHOWN)


@app.command()
def delete(webhook_id: WebhookId, json_: JsonFlag = False) -> None:
    """Delete a webhook and its delivery log (pending deliveries are dropped)."""
    with connect() as client:
        result = client.webhooks.delete(webhook_id)
    print_done(result.to_json_dict(), json_, f"deleted {result.webhook_id} ({result.url})")


@app.command()
def deliveries(
    webhook_id: WebhookId,
    attempts: Annotated[bool, typer.Option("--attempts", help="Also list each delivery's latest attempts.")] = False,
    first: FirstOption = None,
    after: AfterOption = None,
    json_: JsonFlag = False,
) -> None:
    """A webhook's deliveries, newest first (one page), with their attempts."""
    with connect() as client:
        page = client.webhooks.deliveries(webhook_id, first=first, after=after)
    if json_:
        print_json(page.to_json_dict())
        return
    columns = [
        ("DELIVERY ID", lambda d: d["delivery_id"]),
        ("TYPE", lambda d: d["event_type"]),
        ("STATUS", lambda d: d["status"]),
        ("ATTEMPTS", lambda d: d.get("attempts")),
        ("LAST ANSWER", lambda d: d.get("last_status_code") or d.get("last_error")),
        ("LAST ATTEMPT", lambda d: timestamp(d.get("last_attempt_at"))),
    ]
    print_table([d.to_json_dict() for d in page.items], columns)
    if attempts:
        rows = [{"delivery_id": d.delivery_id, **a.to_json_dict()} for d in page.items for a in d.attempt_history]
        print_table(
            rows,
            [
                ("DELIVERY ID", lambda a: a["delivery_id"]),
                ("ATTEMPT", lambda a: a["attempt"]),
                ("AT", lambda a: timestamp(a.get("attempted_at"))),
                ("STATUS CODE", lambda a: a.get("status_code")),
                ("ERROR", lambda a: a.get("error")),
                ("MS", lambda a: a.get("duration_ms")),
            ],
        )
    if page.has_next_page and page.end_cursor:
        note(f"more: --after {page.end_cursor}")
