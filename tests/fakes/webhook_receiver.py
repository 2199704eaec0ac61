"""A webhook receiver on a loopback port that verifies every delivery with the ``standardwebhooks`` library.

Answers follow a script (``200`` by default): a status code, or ``"hang"`` to answer only after ``hang_seconds``
(a timeout for the sender). Verified bodies land in ``received``; anything that fails verification in ``rejected``.

    with WebhookReceiver() as receiver:
        receiver.secret = created["secret"]
        receiver.script = [500, "hang", 200]
        ... receiver.url, receiver.wait_for(lambda got: len(got) >= 1)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer


class WebhookReceiver:
    def __init__(self, *, path: str = "/hook", hang_seconds: float = 5.0) -> None:
        self.path = path
        self.secret: str | None = None
        self.script: list[int | str] = []
        self.hang_seconds = hang_seconds
        self.received: list[dict[str, Any]] = []
        """Verified deliveries: ``{"headers": …, "body": …, "at": epoch, "perf": perf_counter}``."""
        self.rejected: list[str] = []
        self.attempts = 0
        self._lock = threading.Lock()
        self._server = ThreadedServer(Starlette(routes=[Route(path, self._hook, methods=["POST"])]), name="webhooks")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}{self.path}"

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        received_at, received_perf = time.time(), time.perf_counter()
        with self._lock:
            self.attempts += 1
            answer: int | str = self.script.pop(0) if self.script else 200
        if answer == "hang":
            await asyncio.sleep(self.hang_seconds)
            return PlainTextResponse("too late", status_code=200)
        if not isinstance(answer, int) or not 200 <= answer < 300:
            return PlainTextResponse("scripted failure", status_code=int(answer))
        headers = dict(request.headers)
        try:
            body = Webhook(self.secret or "").verify(raw, headers)
        except (WebhookVerificationError, ValueError) as exc:
            with self._lock:
                self.rejected.append(str(exc))
            return PlainTextResponse("bad signature", status_code=400)
        with self._lock:
            self.received.append({"headers": headers, "body": body, "at": received_at, "perf": received_perf})
        return PlainTextResponse("ok", status_code=answer)

    def wait_for(
        self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = list(self.received)
            if condition(got):
                return got
            time.sleep(0.02)
        raise AssertionError(f"the receiver did not get what was expected; got {got!r}, rejected {self.rejected!r}")

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.received if r["body"]["type"] == event_type]

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.stop()
