"""What every remote command shares: a client built from the environment, API errors turned into one
clean line on stderr (exit 1), the `--json` flag, and reading long text from a file or stdin.

Remote commands reach the server only through `codeyard.sdk`, so they work against any compatible API.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codeyard.cli._output import fail

if TYPE_CHECKING:  # the SDK (httpx2, pydantic) is imported when a command connects, not for `--help`
    from codeyard.sdk import Client

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON response instead of a table.")]
FirstOption = Annotated[int | None, typer.Option("--first", min=1, max=200, help="Page size (server default 100).")]
AfterOption = Annotated[str | None, typer.Option("--after", help="Cursor from a previous page's end_cursor.")]

_MISSING_KEY = (
    "DEVIN_API_KEY is not set. Export a service user's API key (a new server writes one to "
    "<data dir>/bootstrap.env: `source` it), and DEVIN_API_URL if the server is not at http://127.0.0.1:8000."
)


@contextmanager
def connect() -> Iterator[Client]:
    """A `Client` configured from DEVIN_API_URL / DEVIN_API_KEY / DEVIN_ORG_ID; SDK errors end the command."""
    from codeyard.sdk import APIConnectionError, APIError, Client, ConfigurationError

    try:
        with Client() as client:
            yield client
    except ConfigurationError as exc:
        missing = not os.environ.get("DEVIN_API_KEY", "").strip()
        raise fail(_MISSING_KEY if missing else str(exc)) from None
    except APIConnectionError as exc:
        raise fail(f"{exc} (is the server running? DEVIN_API_URL selects it)") from None
    except APIError as exc:
        raise fail(str(exc)) from None


def read_text(text: str | None, file: str | None, what: str) -> str | None:
    """The text given inline or in `file` ('-' = stdin); giving both is a usage error."""
    if text is not None and file is not None:
        raise typer.BadParameter(f"give the {what} inline or with a file, not both")
    if file is None:
        return text
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise typer.BadParameter(f"{file} is not UTF-8 text") from None
