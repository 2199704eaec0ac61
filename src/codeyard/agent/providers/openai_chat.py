"""Any OpenAI-compatible Chat Completions endpoint: OpenAI, vLLM, Ollama, llama.cpp's server, OpenRouter.

Only Chat Completions is used (not the Responses API) because it is the one dialect every local server
speaks. Streaming is optional: it keeps long generations alive through proxies with idle timeouts, and the
reply is assembled here from the deltas, so the agent sees the same `Reply` either way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)
from openai.types.completion_usage import CompletionUsage

from codeyard.agent.model import (
    ContextOverflowError,
    Message,
    ModelError,
    Reply,
    ToolCall,
    ToolSpec,
    Usage,
)
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

_EXPECTED = "a Chat Completions answer"

_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use", "length": "max_tokens"}


class OpenAIChatModel:
    """A `Model` over `POST {base_url}/chat/completions` with function tools."""

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
        self.name = f"openai:{model}"
        self.context_window = context_window
        self._model = model
        self._max_output_tokens = max_output_tokens
        self._stream = stream
        self._timeout = request_timeout
        # Local servers ignore the key, but the SDK insists on a non-empty one.
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "not-needed", max_retries=0, timeout=request_timeout
        )
        self._endpoint = str(self._client.base_url).rstrip("/")
        self._retrier = Retrier(policy=policy, endpoint=self._endpoint, classify=self._classify, on_retry=on_retry)

    async def complete(self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Reply:
        wire_messages = _chat_messages(system, messages)
        wire_tools = [_chat_tool(tool) for tool in tools]
        if self._stream:
            return await self._retrier.run(lambda: self._streamed(wire_messages, wire_tools))
        return await self._retrier.run(lambda: self._whole(wire_messages, wire_tools))

    async def aclose(self) -> None:
        await self._client.close()

    async def _whole(
        self, messages: list[ChatCompletionMessageParam], tools: list[ChatCompletionFunctionToolParam]
    ) -> Reply:
        # The raw response, parsed here: given a body that is not JSON, the SDK returns its text instead of raising.
        response = await self._client.post(
            "/chat/completions", cast_to=httpx2.Response, body=self._body(messages, tools)
        )
        return self._parse_whole(response.status_code, await response_object(response, _EXPECTED))

    def _parse_whole(self, status: int, data: dict[str, Any]) -> Reply:
        if not isinstance(data.get("choices"), list):
            raise unexpected(status, data, "choices", _EXPECTED)
        try:
            return self._reply_from_completion(ChatCompletion.construct(**data))
        except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as exc:  # a broken part
            raise garbled(status, f"a chat completion of the wrong shape ({exc})", _EXPECTED) from exc

    def _body(
        self, messages: list[ChatCompletionMessageParam], tools: list[ChatCompletionFunctionToolParam]
    ) -> dict[str, object]:
        """The request body, sent through the client's plain ``post``: ``chat.completions.create`` re-walks every
        typed message of the history on each call, which profiles showed to be most of a step's CPU once the
        history is long. Our messages are already in wire shape."""
        body: dict[str, object] = {"model": self._model, "messages": messages, "max_tokens": self._max_output_tokens}
        if tools:
            body["tools"] = tools
        return body

    async def _streamed(
        self, messages: list[ChatCompletionMessageParam], tools: list[ChatCompletionFunctionToolParam]
    ) -> Reply:
        body = self._body(messages, tools) | {"stream": True, "stream_options": {"include_usage": True}}
        stream = await self._client.post(
            "/chat/completions",
            cast_to=ChatCompletion,
            body=body,
            stream=True,
            stream_cls=openai.AsyncStream[ChatCompletionChunk],
        )
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        finish_reason: str | None = None
        usage = Usage()
        chunks = 0
        async with stream:
            whole = await whole_instead_of_stream(stream.response, _EXPECTED)
            if whole is not None:
                return self._parse_whole(stream.response.status_code, whole)
            try:
                async for chunk in _chunks(stream):
                    chunks += 1
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    for choice in chunk.choices[:1]:
                        finish_reason = choice.finish_reason or finish_reason
                        if choice.delta.content:
                            text.append(choice.delta.content)
                        for delta in choice.delta.tool_calls or ():
                            partial = calls.setdefault(delta.index, _PartialCall())
                            partial.id = delta.id or partial.id
                            if delta.function is not None:
                                partial.name = partial.name or delta.function.name or ""
                                partial.arguments += delta.function.arguments or ""
            except (AttributeError, TypeError, KeyError) as exc:  # lenient parsing met a broken chunk
                raise garbled(
                    stream.response.status_code, f"a stream chunk of the wrong shape ({exc})", _EXPECTED
                ) from exc
        if not chunks:
            raise garbled(stream.response.status_code, "an event stream without a single chunk", _EXPECTED)
        tool_calls = tuple(
            ToolCall.parse(partial.id or _fallback_id(), partial.name, partial.arguments)
            for _, partial in sorted(calls.items())
        )
        return Reply("".join(text), tool_calls, usage, _stop_reason(finish_reason, tool_calls))

    def _reply_from_completion(self, completion: ChatCompletion) -> Reply:
        if not completion.choices:
            raise ModelError(f"the model {self.name} returned no choices")
        choice = completion.choices[0]
        tool_calls = tuple(
            ToolCall.parse(call.id or _fallback_id(), call.function.name, call.function.arguments or "")
            for call in choice.message.tool_calls or ()
            if call.type == "function"
        )
        usage = _usage(completion.usage) if completion.usage is not None else Usage()
        return Reply(choice.message.content or "", tool_calls, usage, _stop_reason(choice.finish_reason, tool_calls))

    def _classify(self, exc: Exception) -> Transient | ModelError | None:
        if isinstance(exc, openai.APIStatusError):
            message = body_message(exc.body, exc.message)
            if looks_like_context_overflow(exc.status_code, exc.code, message):
                return ContextOverflowError(f"the conversation no longer fits the context of {self.name}: {message}")
            return status_failure(exc.status_code, message, exc.response.headers)
        if isinstance(exc, openai.APITimeoutError):
            return Transient(f"no answer within {self._timeout:g} seconds")
        if isinstance(exc, openai.APIConnectionError):
            return Transient(f"could not connect ({exc.__cause__ or exc.message})")
        if type(exc) is openai.APIError:  # an error chunk inside a stream that had started well
            return Transient(f"the stream broke off: {exc.message}")
        if isinstance(exc, openai.OpenAIError):
            return ModelError(f"the model {self.name} failed: {exc}")
        return transport_failure(exc)


async def _chunks(stream: openai.AsyncStream[ChatCompletionChunk]) -> AsyncIterator[ChatCompletionChunk]:
    """The stream's chunks; an event whose data is not JSON is a garbled answer, not a crash."""
    try:
        async for chunk in stream:
            yield chunk
    except ValueError as exc:
        raise garbled(stream.response.status_code, "a stream event that is not JSON", _EXPECTED) from exc


@dataclass
class _PartialCall:
    """A tool call being assembled from stream deltas: id and name arrive once, arguments in pieces."""

    id: str = ""
    name: str = ""
    arguments: str = ""


def _chat_messages(system: str, messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
    """Our history in Chat Completions shape: tool calls carry JSON-text arguments, results their call id."""
    wire: list[ChatCompletionMessageParam] = []
    if system:
        wire.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "user":
            wire.append({"role": "user", "content": message.content})
        elif message.role == "tool":
            wire.append({"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content})
        else:
            wire.append(_assistant_message(message))
    return wire


def _chat_tool(tool: ToolSpec) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def _assistant_message(message: Message) -> ChatCompletionAssistantMessageParam:
    wire: ChatCompletionAssistantMessageParam = {"role": "assistant"}
    # The API wants content or tool calls; an empty string beside tool calls is rejected by some servers.
    if message.content or not message.tool_calls:
        wire["content"] = message.content
    if message.tool_calls:
        wire["tool_calls"] = [_wire_tool_call(call) for call in message.tool_calls]
    return wire


def _wire_tool_call(call: ToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    # Malformed arguments are sent back as the parsed (empty) object: several servers re-parse them.
    arguments = call.raw_arguments if call.raw_arguments and call.has_valid_arguments else json.dumps(call.arguments)
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def _usage(usage: CompletionUsage) -> Usage:
    return Usage(input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0)


def _stop_reason(finish_reason: str | None, tool_calls: tuple[ToolCall, ...]) -> str:
    reason = _STOP_REASONS.get(finish_reason or "stop", finish_reason or "end_turn")
    # Some servers (Ollama among them) report "stop" for a turn that calls tools.
    return "tool_use" if tool_calls and reason == "end_turn" else reason


def _fallback_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"
