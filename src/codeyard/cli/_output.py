"""How remote commands print: aligned tables for people, raw JSON with `--json`, one-line errors on stderr.

Tables are built with rich but without markup (a title like "[WIP] fix" prints as written) and, when
stdout is not a terminal, without wrapping, so piped output stays one row per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # rich is imported by the commands that print a table, not at start-up
    from rich.console import Console

_PIPE_WIDTH = 10_000

Row = Mapping[str, Any]
Column = tuple[str, Callable[[Row], object]]
"""A table column: its header and how to read its cell from a JSON object."""


def console() -> Console:
    from rich.console import Console

    # Built per call: the test runner and shells may swap sys.stdout between commands.
    terminal = Console(highlight=False)
    return terminal if terminal.is_terminal else Console(highlight=False, width=_PIPE_WIDTH)


def print_json(data: object) -> None:
    """Print JSON exactly as a machine should read it (no colours, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_json_line(data: object) -> None:
    """One compact JSON document per line (for streams such as `sessions watch --json`)."""
    typer.echo(json.dumps(data, ensure_ascii=False))


def print_table(rows: Iterable[Row], columns: Sequence[Column]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell_text(read(row))) for _, read in columns))
    out = console()
    with out.capture() as captured:
        out.print(table)
    # rich pads the last column to its width; trailing blanks only get in the way of pipes and diffs.
    for line in captured.get().splitlines():
        typer.echo(line.rstrip())


def print_result(row: Row, json_: bool, fields: Sequence[str] | None = None) -> None:
    """One object: raw JSON with `--json`, else a FIELD / VALUE table."""
    if json_:
        print_json(row)
    else:
        print_record(row, fields)


def print_done(row: Row, json_: bool, message: str) -> None:
    """The outcome of an action with nothing else to show: raw JSON with `--json`, else `message`."""
    if json_:
        print_json(row)
    else:
        typer.echo(message)


def print_record(row: Row, fields: Sequence[str] | None = None) -> None:
    """Print one object as FIELD / VALUE lines (all of its fields, or only `fields`)."""
    keys = fields if fields is not None else list(row)
    print_table(({"field": key, "value": row.get(key)} for key in keys), [("FIELD", _field), ("VALUE", _value)])


def _field(row: Row) -> object:
    return row["field"]


def _value(row: Row) -> object:
    value = row["value"]
    return timestamp(value) if str(row["field"]).endswith("_at") else value


def cell_text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value) if value else "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def timestamp(value: object) -> object:
    """Epoch seconds (and ISO strings) as local `YYYY-MM-DD HH:MM:SS ZONE`; anything else unchanged."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        except ValueError:
            return value
    return value


def note(message: str) -> None:
    """A hint for people (stderr), kept out of stdout so pipes only see the data."""
    typer.echo(message, err=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: <message>` on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)
