"""Anthropic's Messages API (Claude), or any server that speaks it.

The Messages API has no `tool` role: tool results travel as `tool_result` blocks inside a user message,
and consecutive messages of one role must be merged, so the history is regrouped here on the way out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import httpx2
from anthropic.types import (
    Message as WireMessage,
    MessageDeltaUsage,
    MessageParam,
    RawMessageStreamEvent,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    Usage as WireUsage,
)

from codeyard.agent.model import ContextOverflowError, Message, ModelError, Reply, ToolCall, ToolSpec, Usage
from codeyard.agent.providers.answers import garbled, response_object, unexpected, whole_instead_of_stream
from codeyard.agent.providers.retry import (
    Retrier,
    RetryNotice,
    RetryPolicy,
    Transient,
    body_message,
    looks_like_context_overflow,
    status_failure,
    transport_failure,
)

_Block = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam

_STOP_REASONS = {"stop_sequence": "end_turn"}

_EXPECTED = "a Messages answer"


class AnthropicMessagesModel:
    """A `Model` over `POST {base_url}/v1/messages` with client tools."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str | None,
        context_window: int,
        max_output_tokens: int,
        stream: bool,
        request_timeout: float,
        policy: RetryPolicy,
        on_retry: Callable[[RetryNotice], None] | None = None,
    ) -> None:
        self.name = f"anthropic:{model}"
        self.context_window = context_window
        self._model = model
        self._max_output_tokens = max_output_tokens
        self._stream = stream
        self._timeout = request_timeout
        # An explicit key keeps the SDK from reaching for credential files; keyless proxies ignore it.
        self._client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key=api_key or "not-needed", max_retries=0, timeout=request_timeout
        )
        self._endpoint = str(self._client.base_url).rstrip("/")
        self._retrier = Retrier(policy=policy, endpoint=self._endpoint, classify=self._classify, on_retry=on_retry)

    async def complete(self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Reply:
        wire_messages = _wire_messages(messages)
        wire_tools = [_wire_tool(tool) for tool in tools]
        if self._stream:
            return await self._retrier.run(lambda: self._streamed(system, wire_messages, wire_tools))
        return await self._retrier.run(lambda: self._whole(system, wire_messages, wire_tools))

    async def aclose(self) -> None:
        await self._client.close()

    async def _whole(self, system: str, messages: list[MessageParam], tools: list[ToolParam]) -> Reply:
        # The raw response, parsed here: given a body that is not JSON, the SDK returns its text instead of raising.
        response = await self._client.post(
            "/v1/messages", cast_to=httpx2.Response, body=self._body(system, messages, tools)
        )
        return _parse_whole(response.status_code, await response_object(response, _EXPECTED))

    def _body(self, system: str, messages: list[MessageParam], tools: list[ToolParam]) -> dict[str, object]:
        """The request body, sent through the client's plain ``post``: ``messages.create`` re-walks every typed
        message of the history on each call, which costs more than the rest of a step once the history is long."""
        body: dict[str, object] = {"model": self._model, "max_tokens": self._max_output_tokens, "messages": messages}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = tools
        return body

    async def _streamed(self, system: str, messages: list[MessageParam], tools: list[ToolParam]) -> Reply:
        """Assemble the reply from raw events ourselves: the SDK's accumulator raises on malformed tool JSON."""
        stream = await self._client.post(
            "/v1/messages",
            cast_to=WireMessage,
            body=self._body(system, messages, tools) | {"stream": True},
            stream=True,
            stream_cls=anthropic.AsyncStream[RawMessageStreamEvent],
        )
        text: list[str] = []
        calls: dict[int, _ToolUse] = {}
        usage = Usage()
        stop_reason: str | None = None
        events = 0
        async with stream:
            whole = await whole_instead_of_stream(stream.response, _EXPECTED)
            if whole is not None:
                return _parse_whole(stream.response.status_code, whole)
            try:
                async for event in stream:
                    events += 1
                    if event.type == "message_start":
                        usage = _usage(event.message.usage)
                    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                        calls[event.index] = _ToolUse(event.content_block.id, event.content_block.name)
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        text.append(event.delta.text)
                    elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                        if event.index in calls:
                            calls[event.index].json += event.delta.partial_json
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        input_tokens = (
                            usage.input_tokens if event.usage.input_tokens is None else _usage(event.usage).input_tokens
                        )
                        usage = Usage(input_tokens, event.usage.output_tokens)
            except (ValueError, AttributeError, TypeError, KeyError) as exc:  # an event that is not JSON, or broken
                raise garbled(
                    stream.response.status_code, "a stream event that is not a Messages event", _EXPECTED
                ) from exc
        if not events:
            raise garbled(stream.response.status_code, "an event stream without a single event", _EXPECTED)
        tool_calls = tuple(ToolCall.parse(call.id, call.name, call.json) for _, call in sorted(calls.items()))
        return _reply_of("".join(text), tool_calls, usage, stop_reason)

    def _classify(self, exc: Exception) -> Transient | ModelError | None:
        if isinstance(exc, anthropic.APIStatusError):
            message = exc.api_message or body_message(exc.body, exc.message)
            if exc.status_code < 400:  # an error event inside a stream that had started well (overloaded)
                return Transient(f"the stream broke off: {message}")
            if looks_like_context_overflow(exc.status_code, exc.error_code, message):
                return ContextOverflowError(f"the conversation no longer fits the context of {self.name}: {message}")
            return status_failure(exc.status_code, message, exc.response.headers)
        if isinstance(exc, anthropic.APITimeoutError):
            return Transient(f"no answer within {self._timeout:g} seconds")
        if isinstance(exc, anthropic.APIConnectionError):
            return Transient(f"could not connect ({exc.__cause__ or exc.message})")
        if isinstance(exc, anthropic.AnthropicError):
            return ModelError(f"the model {self.name} failed: {exc}")
        return transport_failure(exc)


@dataclass
class _ToolUse:
    """A tool_use block being assembled from stream events: its input arrives as JSON text in pieces."""

    id: str
    name: str
    json: str = ""


def _parse_whole(status: int, data: dict[str, Any]) -> Reply:
    if not isinstance(data.get("content"), list):
        raise unexpected(status, data, "content", _EXPECTED)
    try:
        return _reply(WireMessage.construct(**data))
    except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as exc:  # a broken part
        raise garbled(status, f"a message of the wrong shape ({exc})", _EXPECTED) from exc


def _reply(response: WireMessage) -> Reply:
    text: list[str] = []
    calls: list[ToolCall] = []
    for block in response.content:
        if block.type == "text":
            text.append(block.text)
        elif block.type == "tool_use":
            # Only a misbehaving server sends a non-object input; keep it for the agent to report.
            arguments = block.input if isinstance(block.input, dict) else {}
            calls.append(ToolCall(block.id, block.name, arguments, raw_arguments=json.dumps(block.input)))
    return _reply_of("".join(text), tuple(calls), _usage(response.usage), response.stop_reason)


def _reply_of(text: str, calls: tuple[ToolCall, ...], usage: Usage, stop_reason: str | None) -> Reply:
    reason = stop_reason or ("tool_use" if calls else "end_turn")
    return Reply(text, calls, usage, _STOP_REASONS.get(reason, reason))


def _usage(usage: WireUsage | MessageDeltaUsage) -> Usage:
    """Input tokens include the cached part of the prompt, which Anthropic counts separately."""
    cached = (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
    return Usage((usage.input_tokens or 0) + cached, usage.output_tokens)


def _wire_messages(messages: Sequence[Message]) -> list[MessageParam]:
    """Our history as alternating user/assistant messages; tool results become user `tool_result` blocks."""
    wire: list[tuple[Literal["user", "assistant"], list[_Block]]] = []
    for message in messages:
        role: Literal["user", "assistant"] = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if wire and wire[-1][0] == role:
            wire[-1][1].extend(blocks)
        else:
            wire.append((role, blocks))
    return [
        {"role": "assistant", "content": blocks} if role == "assistant" else {"role": "user", "content": blocks}
        for role, blocks in wire
    ]


def _blocks(message: Message) -> list[_Block]:
    if message.role == "tool":
        result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
        if message.content:
            result["content"] = message.content
        return [result]
    # The API rejects empty text blocks, which an assistant turn made only of tool calls would produce.
    blocks: list[_Block] = [{"type": "text", "text": message.content}] if message.content else []
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        for call in message.tool_calls
    )
    return blocks


def _wire_tool(tool: ToolSpec) -> ToolParam:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
