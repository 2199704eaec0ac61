"""Refuse JSON bodies holding a lone UTF-16 surrogate (``"\\ud800"``) with a 422 naming the field, for every route.

JSON may spell any code point as ``\\uXXXX``, and Python's parser turns an unpaired surrogate escape into a ``str``
that cannot be encoded as UTF-8: it passes pydantic and then fails wherever the value is encoded (a secret's
encryption, a database write, a log line) as a 500. One check here covers every string field of every request
model, present and future, instead of one validator per field. A body without a ``\\uD800`` to ``\\uDFFF`` escape
(nearly all of them) is only scanned by one regular expression.
"""

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")

MESSAGE = "the text holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is not valid Unicode"


def lone_surrogate(value: Any) -> list[str | int] | None:
    """The location of the first string (value or key) in ``value`` that holds a lone surrogate, else ``None``."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str):
            if not _encodable(node):
                return loc
        elif isinstance(node, dict):
            for key, child in node.items():
                if not _encodable(key):
                    return [*loc, key.encode("utf-8", "replace").decode()]
                stack.append((child, [*loc, key]))
        elif isinstance(node, list):
            stack.extend((child, [*loc, i]) for i, child in enumerate(node))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SurrogateGuardMiddleware:
    """Reads a JSON request body (already capped by ``BodyLimitMiddleware``), checks it, and replays it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if b"json" not in content_type.lower():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _SURROGATE_ESCAPE.search(body):
            loc = _locate(body)
            if loc is not None:
                await _reject(send, ["body", *loc])
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _locate(body: bytes) -> list[str | int] | None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: FastAPI answers that itself
    return lone_surrogate(parsed)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _reject(send: Send, loc: list[str | int]) -> None:
    body = json.dumps({"detail": [{"loc": loc, "msg": MESSAGE, "type": "string_unicode"}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})
