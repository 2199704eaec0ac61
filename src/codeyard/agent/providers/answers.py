"""Reading a model endpoint's answer defensively: a proxy's HTML error page, random bytes or JSON cut off half-way
can come back with HTTP 200, and must be retried like a 5xx, then reported in plain words, never crash a session.

`json_object` turns a response body into the JSON object it should hold or raises `GarbledAnswerError`, whose
message says what came instead ("an HTML page titled "502 Bad Gateway"", "JSON cut off after 37 bytes", …)
without the endpoint's URL or any header, so it can be shown to the session's users.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx2

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SNIPPET_CHARS = 60


class GarbledAnswerError(Exception):
    """The endpoint answered with something that is not the API's answer; the message says what it was."""


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[:_SNIPPET_CHARS] + "…"


def describe(body: bytes, content_type: str) -> str:
    """What ``body`` is, in a few plain words, for a message about an answer that could not be used."""
    kind = content_type.split(";")[0].strip().lower()
    if not body.strip():
        return "an empty body"
    if "html" in kind or body.lstrip()[:1] == b"<":
        title = _TITLE.search(body[:65536])
        if title is not None:
            words = _snippet(html.unescape(title.group(1).decode("utf-8", errors="replace")))
            if words:
                return f'an HTML page titled "{words}"'
        return "an HTML page"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"{len(body)} bytes of binary data" + (f" ({kind})" if kind else "")
    try:
        value = json.loads(text)
    except RecursionError:
        return "JSON nested too deeply to read"
    except json.JSONDecodeError as exc:
        at_end = exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated")
        if at_end and text.lstrip()[:1] in ("{", "["):
            return f"JSON cut off after {len(body)} bytes"
        return f'text that is not JSON ("{_snippet(text)}")'
    return _error_of(value) or f'JSON of another shape ("{_snippet(text)}")'


def json_object(status: int, body: bytes, content_type: str, expected: str) -> dict[str, Any]:
    """The JSON object in ``body``; `GarbledAnswerError` naming what came instead of ``expected``."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError; UnicodeDecodeError for bytes; nesting past the stack
        value = None
    if isinstance(value, dict):
        return value
    raise garbled(status, describe(body, content_type), expected)


def garbled(status: int, what: str, expected: str) -> GarbledAnswerError:
    return GarbledAnswerError(f"the model endpoint answered HTTP {status} with {what} instead of {expected}")


async def response_object(response: httpx2.Response, expected: str) -> dict[str, Any]:
    """The JSON object of a whole (not streamed) answer; see `json_object`."""
    body = await response.aread()
    return json_object(response.status_code, body, response.headers.get("content-type", ""), expected)


async def whole_instead_of_stream(response: httpx2.Response, expected: str) -> dict[str, Any] | None:
    """For a request that asked for a stream: None when the answer is (or may be) an event stream, the JSON object
    when the server sent a whole answer instead (some ignore ``stream``), and `GarbledAnswerError` for an HTML
    page, bytes or anything else plainly not events. Content types other than those are parsed as events, as some
    servers mislabel their streams; a stream that yields no event at all is refused by the caller."""
    content_type = response.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if "event-stream" in kind:
        return None
    if "json" in kind:
        return await response_object(response, expected)
    if not kind or any(word in kind for word in ("html", "octet-stream", "xml")):
        body = await response.aread()
        raise garbled(response.status_code, describe(body, content_type), expected)
    return None


def unexpected(status: int, data: dict[str, Any], missing: str, expected: str) -> GarbledAnswerError:
    """A JSON object without the field ``missing`` that every answer has: often a proxy's error in JSON."""
    what = _error_of(data) or f'JSON without `{missing}` ("{_snippet(json.dumps(data))}")'
    return garbled(status, what, expected)


def _error_of(value: object) -> str | None:
    """``an error ("…")`` for an error object (``{"error": {"message": …}}`` or ``{"error": "…"}``), else None."""
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    if isinstance(message, str) and message.strip():
        return f'an error ("{_snippet(message)}")'
    return None
