"""A scripted model server speaking OpenAI Chat Completions and Anthropic Messages over real HTTP.

The model is the one part of codeyard the tests fake, and only at the wire: the provider code under
test is the code users run, talking through the real SDKs to this server on a loopback port.

Scripts are keyed by conversation, statelessly: a request belongs to the script whose `match` occurs in
its first user message, and gets the step whose index is the number of assistant turns already in the
request. A conversation resumed after a crash therefore gets the next step. `Step.error`,
`Step.stream_error`, `Step.delay` and `Step.raw` are one-shot: each is served once (per conversation and step index)
before the step that follows it, which is how "500, then recovery" and "slow, then answers" are
scripted. Past the end of a script the model says "done".

Use it from a test (sync or async; the server runs in its own thread):

    with FakeModelServer() as server:
        server.add_script("fix the bug", [Step.tool("shell", {"command": "ls"}), Step.text("fixed")])
        ... OpenAI base URL: server.base_url; Anthropic base URL: server.anthropic_base_url

or as a process, for benchmarks and subprocess tests (it prints its OpenAI base URL when ready):

    python -m tests.fakes.model_server --port 8123 --script script.json

where script.json is `{"default": [<step>...], "scripts": [{"match": "...", "steps": [<step>...]}]}` and a
step is one of `{"text": "..."}`, `{"tool": "name", "arguments": {...}}`,
`{"tools": [{"name": "...", "arguments": {...}}], "text": "..."}`,
`{"error": 500, "body": ..., "retry_after": 2}`, `{"stream_error": "..."}`, `{"delay": 1.5}`,
`{"raw": "<html>…", "content_type": "text/html", "status": 200}`; text and tool steps take `"usage": [in, out]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer

Dialect = Literal["openai", "anthropic"]

_ARGUMENT_PIECES = 3
_TEXT_PIECE_CHARS = 8


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call the fake model makes; string arguments are sent verbatim (to script malformed JSON)."""

    name: str
    arguments: dict[str, Any] | str

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Step:
    """One scripted answer (text, tool calls) or one-shot disturbance (error, delay) before the next answer."""

    kind: Literal["text", "tool", "error", "stream_error", "delay", "raw"]
    content: str = ""
    calls: tuple[ScriptedCall, ...] = ()
    status: int = 0
    body: Any = None
    retry_after: float | str | None = None
    seconds: float = 0.0
    usage: tuple[int, int] | None = None

    @classmethod
    def text(cls, content: str, *, usage: tuple[int, int] | None = None) -> Step:
        return cls(kind="text", content=content, usage=usage)

    @classmethod
    def tool(
        cls,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        text: str = "",
        usage: tuple[int, int] | None = None,
    ) -> Step:
        return cls.tools((name, {} if arguments is None else arguments), text=text, usage=usage)

    @classmethod
    def tools(
        cls, *calls: tuple[str, dict[str, Any] | str], text: str = "", usage: tuple[int, int] | None = None
    ) -> Step:
        return cls(kind="tool", content=text, calls=tuple(ScriptedCall(n, a) for n, a in calls), usage=usage)

    @classmethod
    def error(cls, status: int, body: Any = None, retry_after: float | str | None = None) -> Step:
        """An HTTP error; a str body is wrapped in the dialect's error shape, a dict is sent as it is."""
        return cls(kind="error", status=status, body=body, retry_after=retry_after)

    @classmethod
    def stream_error(cls, message: str) -> Step:
        """A stream that starts (HTTP 200) and then carries an error event; a non-streamed request gets a 500."""
        return cls(kind="stream_error", status=500, body=message)

    @classmethod
    def delay(cls, seconds: float) -> Step:
        return cls(kind="delay", seconds=seconds)

    @classmethod
    def raw(cls, body: bytes | str, content_type: str = "text/html", status: int = 200) -> Step:
        """A body that is not the API's answer (an HTML page, bytes, cut JSON), streamed or not, as a broken proxy
        or server sends it; `content` holds the content type."""
        return cls(
            kind="raw", status=status, body=body.encode() if isinstance(body, str) else body, content=content_type
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        usage = (int(data["usage"][0]), int(data["usage"][1])) if "usage" in data else None
        text = str(data.get("text", ""))
        if "tool" in data:
            return cls.tool(str(data["tool"]), data.get("arguments"), text=text, usage=usage)
        if "tools" in data:
            calls = [(str(call["name"]), call.get("arguments", {})) for call in data["tools"]]
            return cls.tools(*calls, text=text, usage=usage)
        if "text" in data:
            return cls.text(text, usage=usage)
        if "error" in data:
            return cls.error(int(data["error"]), data.get("body"), data.get("retry_after"))
        if "stream_error" in data:
            return cls.stream_error(str(data["stream_error"]))
        if "delay" in data:
            return cls.delay(float(data["delay"]))
        if "raw" in data:
            return cls.raw(str(data["raw"]), str(data.get("content_type", "text/html")), int(data.get("status", 200)))
        raise ValueError(f"not a script step: {dict(data)!r}")


_DONE = Step.text("done")


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class _Slot:
    """The answer for one step index and the one-shot disturbances served before it."""

    answer: Step
    disturbances: list[Step] = field(default_factory=list)


def _slots(steps: Sequence[Step]) -> list[_Slot]:
    slots: list[_Slot] = []
    pending: list[Step] = []
    for step in steps:
        if step.kind in ("error", "stream_error", "delay", "raw"):
            pending.append(step)
        else:
            slots.append(_Slot(step, pending))
            pending = []
    if pending:
        slots.append(_Slot(_DONE, pending))
    return slots


class FakeModelServer:
    """The scripted server; a context manager that runs it on 127.0.0.1 in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.requests: list[RecordedRequest] = []
        self._scripts: list[tuple[str, list[_Slot]]] = []
        self._default: list[_Slot] = []
        self._served: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
            ]
        )
        self._http = ThreadedServer(self.app, host=host, port=port, name="fake model server")
        self.port: int = self._http.port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (the SDK appends `/chat/completions`)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic base URL (the SDK appends `/v1/messages`)."""
        return f"http://{self.host}:{self.port}"

    def add_script(self, match: str, steps: Sequence[Step]) -> None:
        """Script the conversation whose first user message contains `match` (first added wins)."""
        with self._lock:
            self._scripts.append((match, _slots(steps)))

    def set_default_script(self, steps: Sequence[Step]) -> None:
        """Script every conversation no `add_script` matches (otherwise they are answered "done")."""
        with self._lock:
            self._default = _slots(steps)

    def reset(self) -> None:
        """Forget scripts, served disturbances and recorded requests, so one running server serves many tests."""
        with self._lock:
            self._scripts.clear()
            self._default = []
            self._served.clear()
            self.requests.clear()

    def load_script_file(self, path: Path) -> None:
        data = json.loads(path.read_text())
        for script in data.get("scripts", []):
            self.add_script(str(script["match"]), [Step.from_json(step) for step in script["steps"]])
        if "default" in data:
            self.set_default_script([Step.from_json(step) for step in data["default"]])

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    # Lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> FakeModelServer:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def serve_forever(self) -> None:
        """Run in the calling thread until SIGINT/SIGTERM (the command-line mode)."""
        self._http.serve_forever()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # Handlers --------------------------------------------------------------------------------------------

    async def _chat_completions(self, request: Request) -> Response:
        return await self._handle(request, "openai")

    async def _messages(self, request: Request) -> Response:
        return await self._handle(request, "anthropic")

    async def _handle(self, request: Request, dialect: Dialect) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(RecordedRequest(request.url.path, dict(request.headers), body))
        messages = body.get("messages", [])
        first_user = _first_user_text(messages)
        turn = sum(1 for message in messages if message.get("role") == "assistant")
        slot = self._slot(first_user, turn)
        while (disturbance := self._next_disturbance(first_user, turn, slot)) is not None:
            if disturbance.kind == "stream_error" and body.get("stream"):
                return _sse(_broken_stream(str(disturbance.body), dialect, str(body.get("model", "fake-model"))))
            if disturbance.kind in ("error", "stream_error"):
                return _error_response(disturbance, dialect)
            if disturbance.kind == "raw":
                return Response(disturbance.body, status_code=disturbance.status, media_type=disturbance.content)
            if not await _pause(request, disturbance.seconds):
                return Response(status_code=499)
        answer = slot.answer if slot is not None else _DONE
        usage = answer.usage or _estimated_usage(body, answer)
        model = str(body.get("model", "fake-model"))
        if dialect == "openai":
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return _sse(_openai_chunks(answer, model, usage if include_usage else None))
            return JSONResponse(_openai_completion(answer, model, usage))
        if body.get("stream"):
            return _sse(_anthropic_events(answer, model, usage))
        return JSONResponse(_anthropic_message(answer, model, usage))

    def _slot(self, first_user: str, turn: int) -> _Slot | None:
        with self._lock:
            slots = next((slots for match, slots in self._scripts if match in first_user), self._default)
        return slots[turn] if turn < len(slots) else None

    def _next_disturbance(self, first_user: str, turn: int, slot: _Slot | None) -> Step | None:
        if slot is None:
            return None
        with self._lock:
            served = self._served.get((first_user, turn), 0)
            if served >= len(slot.disturbances):
                return None
            self._served[(first_user, turn)] = served + 1
            return slot.disturbances[served]


def _first_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in messages:
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return ""


async def _pause(request: Request, seconds: float) -> bool:
    """Sleep, giving up early (False) when the client hangs up, so a timed-out request frees the server."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
    return True


def _estimated_usage(body: Mapping[str, Any], answer: Step) -> tuple[int, int]:
    prompt = json.dumps(body.get("messages", [])) + json.dumps(body.get("system", ""))
    output = answer.content + "".join(call.name + call.arguments_json() for call in answer.calls)
    return max(1, len(prompt) // 4), max(1, len(output) // 4)


def _error_response(step: Step, dialect: Dialect) -> Response:
    headers = {} if step.retry_after is None else {"retry-after": str(step.retry_after)}
    if isinstance(step.body, Mapping):
        body: Any = step.body
    else:
        message = str(step.body) if step.body is not None else f"scripted error {step.status}"
        if dialect == "openai":
            body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
        else:
            body = {"type": "error", "error": {"type": "api_error", "message": message}}
    return JSONResponse(body, status_code=step.status, headers=headers)


def _broken_stream(message: str, dialect: Dialect, model: str) -> Iterator[str]:
    """A stream that fails after it started, as overloaded providers do: the status was already 200."""
    if dialect == "openai":
        yield from list(_openai_chunks(Step.text("partial answer"), model, None))[:2]
        yield _data({"error": {"message": message, "type": "server_error", "code": None}})
        return
    started = _anthropic_message(Step.text(""), model, (1, 1))
    yield _event("message_start", {"type": "message_start", "message": {**started, "stop_reason": None}})
    yield _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": message}})


def _sse(events: Iterator[str]) -> StreamingResponse:
    async def stream() -> AsyncIterator[str]:
        for event in events:
            yield event

    return StreamingResponse(stream(), media_type="text/event-stream")


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# OpenAI Chat Completions -------------------------------------------------------------------------------------


def _openai_usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}


def _openai_completion(answer: Step, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content or None, "refusal": None}
    if answer.calls:
        message["tool_calls"] = [
            {"id": _id("call_"), "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
            for c in answer.calls
        ]
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if answer.calls else "stop",
            }
        ],
        "usage": _openai_usage(usage),
    }


def _openai_chunks(answer: Step, model: str, usage: tuple[int, int] | None) -> Iterator[str]:
    """Chunks as OpenAI sends them: role first, text in pieces, each tool call's arguments split in pieces."""
    envelope = {"id": _id("chatcmpl-"), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        extra = {"usage": None} if usage is not None else {}
        return _data({**envelope, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    for start in range(0, len(answer.content), _TEXT_PIECE_CHARS):
        yield chunk({"content": answer.content[start : start + _TEXT_PIECE_CHARS]})
    for index, call in enumerate(answer.calls):
        head = {
            "index": index,
            "id": _id("call_"),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        for piece in _pieces(call.arguments_json(), _ARGUMENT_PIECES):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if answer.calls else "stop")
    if usage is not None:
        yield _data({**envelope, "choices": [], "usage": _openai_usage(usage)})
    yield "data: [DONE]\n\n"


def _data(payload: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


# Anthropic Messages ------------------------------------------------------------------------------------------


def _anthropic_input(call: ScriptedCall) -> Any:
    """A tool_use input; a scripted string is sent as it parses (or as the raw string), as a buggy model might."""
    if not isinstance(call.arguments, str):
        return call.arguments
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def _anthropic_blocks(answer: Step) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": answer.content}] if answer.content else []
    blocks.extend(
        {"type": "tool_use", "id": _id("toolu_"), "name": c.name, "input": _anthropic_input(c)} for c in answer.calls
    )
    return blocks


def _anthropic_message(answer: Step, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": _id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_blocks(answer),
        "stop_reason": "tool_use" if answer.calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _anthropic_events(answer: Step, model: str, usage: tuple[int, int]) -> Iterator[str]:
    message = _anthropic_message(answer, model, (usage[0], 1))
    yield _event("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}})
    calls = iter(answer.calls)
    for index, block in enumerate(message["content"]):
        start: dict[str, Any]
        if block["type"] == "text":
            pieces = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"], _ARGUMENT_PIECES)]
            start = {"type": "text", "text": ""}
        else:
            # Streamed input is JSON text, so scripted malformed arguments arrive malformed, as they would.
            partial = _pieces(next(calls).arguments_json(), _ARGUMENT_PIECES)
            pieces = [{"type": "input_json_delta", "partial_json": piece} for piece in partial]
            start = {**block, "input": {}}
        yield _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        for delta in pieces:
            yield _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield _event("message_delta", {"type": "message_delta", "delta": stop, "usage": {"output_tokens": usage[1]}})
    yield _event("message_stop", {"type": "message_stop"})


def _event(name: str, payload: Mapping[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n"


def _id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a scripted fake model (OpenAI and Anthropic dialects).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, help="JSON script file (see the module docstring)")
    args = parser.parse_args(argv)
    server = FakeModelServer(args.host, args.port)
    if args.script is not None:
        server.load_script_file(args.script)
    print(f"fake model server listening on {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
