"""Refuse text with NUL characters (U+0000) in the path, the query or a JSON body: a 422 naming where.

PostgreSQL cannot store NUL in text (SQLite can), so without this check the same request would be a 500 on
one database and accepted on the other. One check at the edge covers every string input of every route.
Upload contents (multipart) are bytes and pass untouched.
"""

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MSG = "text must not contain NUL characters (\\u0000)"


def _find_nul(value: Any, loc: list[str | int]) -> list[str | int] | None:
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _find_nul(item, [*loc, i])) is not None:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [*loc, key]
            if (found := _find_nul(item, [*loc, key])) is not None:
                return found
    return None


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await _reject(send, ["path"])
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if "%00" in query or "\x00" in query:
            for name, value in parse_qsl(query, keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    await _reject(send, ["query", name.replace("\x00", "")])
                    return
        content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or b"json" not in content_type:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\\u0000" in body:  # a cheap test first; only then parse to name the field
            try:
                found = _find_nul(json.loads(body), ["body"])
            except ValueError:
                found = None  # not JSON: FastAPI's own validation answers
            if found is not None:
                await _reject(send, found)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


async def _reject(send: Send, loc: list[str | int]) -> None:
    body = json.dumps({"detail": [{"loc": loc, "msg": MSG, "type": "string_nul"}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})
