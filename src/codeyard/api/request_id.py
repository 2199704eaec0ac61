"""``X-Request-Id`` on every response (echoed when the client sent a sane one) and in every log line."""

import contextvars
import json
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codeyard.errors import StorageFullError, is_out_of_storage

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


log = structlog.get_logger("codeyard.api")
access = structlog.get_logger("codeyard.access")


INTERNAL = (500, "Internal Server Error", "an internal error occurred; the request id identifies it in the server log")
OUT_OF_STORAGE = (507, "Insufficient Storage", StorageFullError().detail)


async def _unhandled(scope: Scope, send: Send, request_id: str, problem: tuple[int, str, str]) -> None:
    status, title, detail = problem
    body = json.dumps(
        {
            "type": f"https://codeyard.dev/problems/{status}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
            "request_id": request_id,
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def current_request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    """Also writes the access log: one line per request with its method, path, status and duration."""

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE.match(incoming) else f"req_{uuid.uuid4().hex}"
        token = _request_id.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)

        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Rendered here, inside the request id's scope, so the 500 carries the id that the log line has. A full
            # disk (the database's or the data dir's) is the operator's to fix, not a bug: a 507 and one log line.
            full = is_out_of_storage(exc)
            if full:
                log.error("out of storage: a write failed", path=scope.get("path"), error=str(exc)[:300])
            else:
                log.exception("unhandled error", path=scope.get("path"))
            if started:
                raise
            await _unhandled(scope, send_with_id, request_id, OUT_OF_STORAGE if full else INTERNAL)
        finally:
            if self.access_log:
                access.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - began) * 1000, 1),
                    client=scope["client"][0] if scope.get("client") else None,
                )
            structlog.contextvars.unbind_contextvars("request_id")
            _request_id.reset(token)
