"""`Call`: one API operation described as data (what to send, how to read the answer).

Resources build calls; the sync and async clients only differ in how they send them, so the request
shape, the retry rules and the parsing live here once.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx2
from pydantic import BaseModel

from codeyard.sdk._plain import (
    NOT_GIVEN as NOT_GIVEN,  # re-exported: resources import them from here
    NotGiven as NotGiven,
)
from codeyard.sdk.types import Page

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

Scope = Literal["org", "v3"]
"""Where `Call.path` is rooted: the organization base (`/v3/organizations[/{org_id}]`) or `/v3`."""

Paging = Literal["cursor", "offset"]

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH"})


QueryValue = str | int | float | bool | Sequence[str] | None | NotGiven


@dataclass(frozen=True)
class FileField:
    """A multipart file part, held in memory so a retried request can send it again."""

    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the function that turns its successful response into a value."""

    method: str
    path: str
    parse: Callable[[httpx2.Response], T]
    scope: Scope = "org"
    url: str | None = None
    """An absolute URL (a signed link) used instead of `scope` + `path`."""
    query: tuple[tuple[str, str], ...] = ()
    json: object = field(default=NOT_GIVEN, repr=False)
    """Left out of the repr: a body may carry a secret's value or a git connection's token."""
    files: Mapping[str, FileField] | None = None
    authenticated: bool = True
    idempotent: bool | None = None
    """Whether repeating the request is harmless; None means "decide by the HTTP method"."""
    paging: Paging | None = None

    @property
    def is_idempotent(self) -> bool:
        return self.idempotent if self.idempotent is not None else self.method in _IDEMPOTENT_METHODS

    def with_param(self, key: str, value: str) -> "Call[T]":
        """The same call with query parameter `key` set to `value` (replacing any previous value)."""
        query = (*tuple(item for item in self.query if item[0] != key), (key, value))
        return replace(self, query=query)

    def redirected(self, location: str) -> "Call[T]":
        """The GET that follows a redirect: credentials are never forwarded to the redirect target."""
        return replace(self, method="GET", url=location, query=(), json=NOT_GIVEN, files=None, authenticated=False)


def path(*segments: str) -> str:
    """Join path segments, escaping each one so an id can never change the route (`path("sessions", id)`)."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


def query(**params: QueryValue) -> tuple[tuple[str, str], ...]:
    """Encode query parameters: arrays as repeated keys, booleans as true/false, None and NOT_GIVEN dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None or isinstance(value, NotGiven):
            continue
        if isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif isinstance(value, str | int | float):
            pairs.append((key, str(value)))
        else:
            pairs.extend((key, str(item)) for item in value)
    return tuple(pairs)


def body(fields: Mapping[str, object], *, drop_none: Sequence[str] = ()) -> dict[str, object]:
    """A JSON body without the NOT_GIVEN fields, and without the `drop_none` fields that are None."""
    return {
        key: value
        for key, value in fields.items()
        if not isinstance(value, NotGiven) and not (value is None and key in drop_none)
    }


def next_page(call: Call[Page[T]], page: Page[T]) -> Call[Page[T]] | None:
    """The call for the page after `page`, or None when it was the last one."""
    if not page.has_next_page or not page.items:
        return None
    if call.paging == "offset":
        offset = int(dict(call.query).get("offset", "0"))
        return call.with_param("offset", str(offset + len(page.items)))
    if page.end_cursor is None:
        return None
    return call.with_param("after", page.end_cursor)


def model(cls: type[M]) -> Callable[[httpx2.Response], M]:
    """Parse the JSON body as `cls`."""

    def parse(response: httpx2.Response) -> M:
        return cls.model_validate(response.json())

    return parse


def model_list(cls: type[M]) -> Callable[[httpx2.Response], list[M]]:
    """Parse a list of `cls` sent either as a bare array (the reference) or as a page (`{"items": [...]}`)."""

    def parse(response: httpx2.Response) -> list[M]:
        data: Any = response.json()
        items = data["items"] if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(f"expected a list, got {type(items).__name__}")
        return [cls.model_validate(item) for item in items]

    return parse


def tag_list(response: httpx2.Response) -> list[str]:
    """Parse a `{"tags": [...]}` body."""
    data: Any = response.json()
    values = data["tags"]
    if not isinstance(values, list):
        raise ValueError("expected a list of tags")
    return [str(value) for value in values]


def content(response: httpx2.Response) -> bytes:
    """The raw body (downloads)."""
    return response.content


def nothing(response: httpx2.Response) -> None:
    """Ignore the body (operations whose answer carries nothing the caller needs)."""
    del response
