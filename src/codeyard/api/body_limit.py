"""Refuse request bodies over the cap before they are read into memory (413, problem+json)."""

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codeyard.api.request_id import current_request_id

MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart framing around an upload of exactly the configured size."""


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body without ``Content-Length`` grows past the cap.

    An ``HTTPException`` because FastAPI turns any other error met while reading a body into a 400; this one
    it re-raises, and the application's handler renders it as the 413 problem.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


class BodyLimitMiddleware:
    """``limit`` for ordinary requests, ``upload_limit`` (plus multipart overhead) for attachment uploads."""

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.rstrip("/").endswith("/attachments"):
            limit = self.upload_limit + MULTIPART_OVERHEAD
            detail = f"the upload is larger than the limit of {self.upload_limit} bytes"
        else:
            limit = self.limit
            detail = f"the request body is larger than the limit of {self.limit} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._reject(scope, send, detail)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send, detail)

    async def _reject(self, scope: Scope, send: Send, detail: str) -> None:
        body = json.dumps(
            {
                "type": "https://codeyard.dev/problems/413",
                "title": "Payload Too Large",
                "status": 413,
                "detail": detail,
                "instance": scope["path"],
                "request_id": current_request_id(),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
