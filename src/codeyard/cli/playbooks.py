"""`codeyard playbooks …`: reusable instructions a session follows (by id, or by `!macro` in the prompt)."""

from typing import Annotated

import typer

from codeyard.cli._output import note, print_done, print_json, print_result, print_table, timestamp
from codeyard.cli.remote import AfterOption, FirstOption, JsonFlag, connect, read_text

app = typer.Typer(no_args_is_help=True, help="Playbooks.")

PlaybookId = Annotated[str, typer.Argument(help="Playbook id (playbook-…).")]
BodyOption = Annotated[str | None, typer.Option("--body", help="The instructions.")]
BodyFileOption = Annotated[
    str | None, typer.Option("--body-file", help="Read the instructions from a file ('-': stdin).")
]
MacroOption = Annotated[str | None, typer.Option("--macro", help="Macro name, e.g. !deploy.")]


@app.command("list")
def list_(first: FirstOption = None, after: AfterOption = None, json_: JsonFlag = False) -> None:
    """List playbooks (one page)."""
    with connect() as client:
        page = client.playbooks.list(first=first, after=after)
    if json_:
        print_json(page.to_json_dict())
        return
    columns = [
        ("PLAYBOOK ID", lambda p: p["playbook_id"]),
        ("TITLE", lambda p: p["title"]),
        ("MACRO", lambda p: p.get("macro")),
        ("UPDATED", lambda p: timestamp(p.get("updated_at"))),
    ]
    print_table([p.to_json_dict() for p in page.items], columns)
    if page.has_next_page and page.end_cursor:
        note(f"more: --after {page.end_cursor}")


@app.command()
def get(playbook_id: PlaybookId, json_: JsonFlag = False) -> None:
    """Show a playbook."""
    with connect() as client:
        result = client.playbooks.get(playbook_id)
    print_result(result.to_json_dict(), json_)


@app.command()
def create(
    title: Annotated[str, typer.Option("--title", help="Title.")],
    body: BodyOption = None,
    body_file: BodyFileOption = None,
    macro: MacroOption = None,
    json_: JsonFlag = False,
) -> None:
    """Add a playbook."""
    text = read_text(body, body_file, "body")
    if text is None:
        raise typer.BadParameter("give the instructions with --body or --body-file")
    with connect() as client:
        result = client.playbooks.create(title=title, body=text, macro=macro)
    print_result(result.to_json_dict(), json_)


@app.command()
def update(
    playbook_id: PlaybookId,
    title: Annotated[str | None, typer.Option("--title", help="New title.")] = None,
    body: BodyOption = None,
    body_file: BodyFileOption = None,
    macro: MacroOption = None,
    json_: JsonFlag = False,
) -> None:
    """Change a playbook: the options given replace those fields, the others keep their values."""
    text = read_text(body, body_file, "body")
    with connect() as client:
        current = client.playbooks.get(playbook_id)
        result = client.playbooks.update(
            playbook_id,
            title=title if title is not None else current.title,
            body=text if text is not None else current.body,
            macro=macro if macro is not None else current.macro,
        )
    print_result(result.to_json_dict(), json_)


@app.command()
def delete(playbook_id: PlaybookId, json_: JsonFlag = False) -> None:
    """Delete a playbook."""
    with connect() as client:
        result = client.playbooks.delete(playbook_id)
    print_done(result.to_json_dict(), json_, f"deleted {result.playbook_id} ({result.title})")
