"""Cursor pagination of contract §3: opaque cursors over the insertion-ordered ``pk`` of a table."""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from codeyard.errors import BadRequestError

T = TypeVar("T")
MAX_PAGE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    end_cursor: str | None
    has_next_page: bool
    total: int | None


LAST_KEY = 2**31 - 1
"""Keys are 32-bit integers on PostgreSQL: a cursor past that (made by hand) reads as the last possible key, so it
pages to an empty list instead of overflowing the query's parameter."""


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"pk:{pk}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "pk" or not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise ValueError(raw)  # 18 digits keep the key inside the database's 64-bit integers
        return min(int(value), LAST_KEY)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError("the cursor in `after` is not valid") from exc
