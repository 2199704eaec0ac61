"""`codeyard knowledge notes|folders …`: the notes the agent is given when their trigger matches the task."""

from typing import Annotated

import typer

from codeyard.cli._output import note, print_done, print_json, print_result, print_table
from codeyard.cli.remote import AfterOption, FirstOption, JsonFlag, connect, read_text

app = typer.Typer(no_args_is_help=True, help="Knowledge notes and folders.")
notes_app = typer.Typer(no_args_is_help=True, help="Knowledge notes.")
folders_app = typer.Typer(no_args_is_help=True, help="Knowledge folders.")
app.add_typer(notes_app, name="notes")
app.add_typer(folders_app, name="folders")

NoteId = Annotated[str, typer.Argument(help="Note id (note-…).")]
BodyOption = Annotated[str | None, typer.Option("--body", help="The note's text.")]
BodyFileOption = Annotated[str | None, typer.Option("--body-file", help="Read the text from a file ('-': stdin).")]
FolderOption = Annotated[str | None, typer.Option("--folder-id", help="Folder to file the note in.")]
RepoOption = Annotated[str | None, typer.Option("--pinned-repo", help="Apply only to this repository (owner/repo).")]
MacroOption = Annotated[str | None, typer.Option("--macro", help="Macro name, e.g. !deploy.")]

NOTE_COLUMNS = [
    ("NOTE ID", lambda n: n["note_id"]),
    ("NAME", lambda n: n["name"]),
    ("TRIGGER", lambda n: n["trigger"]),
    ("FOLDER", lambda n: n.get("folder_path")),
    ("ENABLED", lambda n: n.get("is_enabled")),
]


@notes_app.command("list")
def list_notes(
    search: Annotated[str | None, typer.Option(help="Only notes containing this text.")] = None,
    folder_path: Annotated[str | None, typer.Option(help="Only notes in this folder path.")] = None,
    pinned_repo: RepoOption = None,
    first: FirstOption = None,
    after: AfterOption = None,
    json_: JsonFlag = False,
) -> None:
    """List notes (one page)."""
    with connect() as client:
        page = client.knowledge.notes.list(
            first=first, after=after, search=search, folder_path=folder_path, pinned_repo=pinned_repo
        )
    if json_:
        print_json(page.to_json_dict())
        return
    print_table([n.to_json_dict() for n in page.items], NOTE_COLUMNS)
    if page.has_next_page and page.end_cursor:
        note(f"more: --after {page.end_cursor}")


@notes_app.command("get")
def get_note(note_id: NoteId, json_: JsonFlag = False) -> None:
    """Show a note."""
    with connect() as client:
        result = client.knowledge.notes.get(note_id)
    print_result(result.to_json_dict(), json_)


@notes_app.command("create")
def create_note(
    name: Annotated[str, typer.Option("--name", help="Short name.")],
    trigger: Annotated[str, typer.Option("--trigger", help="When the note applies (matched against the task).")],
    body: BodyOption = None,
    body_file: BodyFileOption = None,
    folder_id: FolderOption = None,
    pinned_repo: RepoOption = None,
    macro: MacroOption = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Add a note."""
    text = read_text(body, body_file, "body")
    if text is None:
        raise typer.BadParameter("give the note's text with --body or --body-file")
    with connect() as client:
        result = client.knowledge.notes.create(
            name=name,
            body=text,
            trigger=trigger,
            folder_id=folder_id,
            pinned_repo=pinned_repo,
            macro=macro,
            is_enabled=False if disabled else None,
        )
    print_result(result.to_json_dict(), json_)


@notes_app.command("update")
def update_note(
    note_id: NoteId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    trigger: Annotated[str | None, typer.Option("--trigger", help="New trigger.")] = None,
    body: BodyOption = None,
    body_file: BodyFileOption = None,
    folder_id: FolderOption = None,
    pinned_repo: RepoOption = None,
    macro: MacroOption = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled", help="Switch the note on or off.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Change a note: the options given replace those fields, the others keep their values."""
    text = read_text(body, body_file, "body")
    with connect() as client:
        current = client.knowledge.notes.get(note_id)
        result = client.knowledge.notes.update(
            note_id,
            name=name if name is not None else current.name,
            body=text if text is not None else current.body,
            trigger=trigger if trigger is not None else current.trigger,
            folder_id=folder_id if folder_id is not None else current.folder_id,
            pinned_repo=pinned_repo if pinned_repo is not None else current.pinned_repo,
            macro=macro if macro is not None else current.macro,
            is_enabled=enabled if enabled is not None else current.is_enabled,
        )
    print_result(result.to_json_dict(), json_)


@notes_app.command("delete")
def delete_note(note_id: NoteId, json_: JsonFlag = False) -> None:
    """Delete a note."""
    with connect() as client:
        result = client.knowledge.notes.delete(note_id)
    print_done(result.to_json_dict(), json_, f"deleted {result.note_id} ({result.name})")


@folders_app.command("list")
def list_folders(json_: JsonFlag = False) -> None:
    """List folders with their note counts."""
    with connect() as client:
        result = client.knowledge.folders.list()
    if json_:
        print_json(result.to_json_dict())
        return
    columns = [
        ("FOLDER ID", lambda f: f["folder_id"]),
        ("PATH", lambda f: f.get("path") or f["name"]),
        ("NOTES", lambda f: f.get("note_count")),
        ("PARENT", lambda f: f.get("parent_folder_id")),
    ]
    print_table([f.to_json_dict() for f in result.folders], columns)
    note(f"{result.root_note_count} notes outside any folder")


@folders_app.command("create")
def create_folder(
    name: Annotated[str, typer.Argument(help="Folder name.")],
    parent: Annotated[str | None, typer.Option("--parent", help="Parent folder id.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Create a folder."""
    with connect() as client:
        result = client.knowledge.folders.create(name=name, parent_folder_id=parent)
    print_result(result.to_json_dict(), json_)
