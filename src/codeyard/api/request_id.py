"""``X-Request-Id`` on every response (echoed when the client sent a sane one) and in every log line."""

import contextvars
import json
import re
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


log = structlog.get_logger("codeyard.api")


async def _internal_error(scope: Scope, send: Send, request_id: str) -> None:
    body = json.dumps(
        {
            "type": "https://codeyard.dev/problems/500",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "an internal error occurred; the request id identifies it in the server log",
            "instance": scope.get("path", ""),
            "request_id": request_id,
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def current_request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE.match(incoming) else f"req_{uuid.uuid4().hex}"
        token = _request_id.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Rendered here, inside the request id's scope, so the 500 carries the id that the log line has.
            log.exception("unhandled error", path=scope.get("path"))
            if started:
                raise
            await _internal_error(scope, send_with_id, request_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            _request_id.reset(token)
