"""A stand-in for the codeyard/Devin v3 API over real HTTP: it answers with replies a test scripts per route
and records every request, so tests can check both what the SDK sent and how it read the answer.

    with FakeAPI() as api:
        api.on("GET", "/v3/self", Reply(json={"principal_type": "service_user", ...}))
        api.on("POST", "/v3/organizations/org-1/sessions", Reply(status=503), Reply(json=session_json()))
        ...
        assert api.requests_to("POST", "/v3/organizations/org-1/sessions")[0].json()["prompt"] == "..."

Replies to a route are served in order and the last one repeats. A reply may also be a function of the
recorded request (for pagination). Unscripted routes answer 404 problem+json, like the real server.
Every response carries an `X-Request-Id`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer

API_KEY = "cog_test_0123456789abcdef"
"""The key test clients send (the fake accepts any key; tests check where it goes and where it never goes)."""
ORG = "org-1"
"""The organization of the canned bodies below."""

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (header names lower-cased)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    files: dict[str, UploadedFile]

    def json(self) -> Any:
        return json.loads(self.body)

    def params(self, key: str) -> list[str]:
        """Every value of query parameter `key`, in order (arrays are repeated keys)."""
        return [value for name, value in self.query if name == key]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (without blocking other requests)."""

    @classmethod
    def problem(cls, status: int, title: str, detail: str, **headers: str) -> Reply:
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        return cls(status=status, json=body, headers={"content-type": "application/problem+json", **headers})


Handler = Callable[[Recorded], Reply]


class FakeAPI:
    """The scripted server; a context manager that runs it on 127.0.0.1 in a background thread."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[tuple[str, str], list[Reply | Handler]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=_METHODS)])
        self._http = ThreadedServer(self.app, name="fake API server")
        self.port: int = self._http.port

    @property
    def url(self) -> str:
        """The base URL clients are configured with (without `/v3`)."""
        return f"http://127.0.0.1:{self.port}"

    def on(self, method: str, path: str, *replies: Reply | Handler) -> None:
        """Script the answers to `method path` (served in order, the last one repeating)."""
        with self._lock:
            self._routes[(method, path)] = list(replies)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._routes.clear()

    def start(self) -> FakeAPI:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        files: dict[str, UploadedFile] = {}
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with request.form() as form:
                for name, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files[name] = UploadedFile(value.filename or "", value.content_type or "", await value.read())
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            query=list(request.query_params.multi_items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            files=files,
        )
        with self._lock:
            self.requests.append(recorded)
            replies = self._routes.get((recorded.method, recorded.path))
            step = (replies.pop(0) if len(replies) > 1 else replies[0]) if replies else None
            request_id = f"req-{next(self._ids)}"
        reply = step(recorded) if callable(step) else step
        if reply is None:
            reply = Reply.problem(404, "Not Found", f"no route {recorded.method} {recorded.path}")
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return _response(reply, request_id)


def _response(reply: Reply, request_id: str) -> Response:
    headers = {"x-request-id": request_id, **reply.headers}
    if reply.content is not None:
        return Response(reply.content, status_code=reply.status, headers=headers)
    if reply.json is None:
        return Response(status_code=reply.status, headers=headers)
    headers.setdefault("content-type", "application/json")
    return Response(json.dumps(reply.json), status_code=reply.status, headers=headers)


def session_json(session_id: str = "devin-" + "a" * 32, **overrides: Any) -> dict[str, Any]:
    """A complete SessionResponse body (reference §5.2) with `overrides` applied."""
    data: dict[str, Any] = {
        "session_id": session_id,
        "url": f"http://127.0.0.1/sessions/{session_id.removeprefix('devin-')}",
        "status": "running",
        "status_detail": "working",
        "title": "Fix the flaky test",
        "tags": [],
        "org_id": ORG,
        "user_id": None,
        "service_user_id": "service-user-1",
        "playbook_id": None,
        "parent_session_id": None,
        "child_session_ids": [],
        "is_archived": False,
        "origin": "api",
        "category": None,
        "subcategory": None,
        "created_at": 1767225600,
        "updated_at": 1767225660,
        "acus_consumed": 0.0,
        "pull_requests": [],
        "structured_output": None,
    }
    data.update(overrides)
    return data


def page_json(items: list[Any], end_cursor: str | None = None, total: int | None = None) -> dict[str, Any]:
    return {"items": items, "end_cursor": end_cursor, "has_next_page": end_cursor is not None, "total": total}


def message_json(n: int, source: str = "devin", message: str | None = None) -> dict[str, Any]:
    return {
        "event_id": f"evt-{n}",
        "source": source,
        "message": message or f"message {n}",
        "created_at": 1767225600 + n,
    }


def numbered_session_id(n: int) -> str:
    return f"devin-{n:032x}"


def three_session_pages(request: Recorded) -> Reply:
    """A session list of three pages of two: cursors "p2" and "p3" lead on, the last page has none."""
    start = {(): 0, ("p2",): 2, ("p3",): 4}[tuple(request.params("after"))]
    following = {0: "p2", 2: "p3", 4: None}[start]
    items = [session_json(numbered_session_id(n)) for n in range(start, start + 2)]
    return Reply(json=page_json(items, following, total=6))
