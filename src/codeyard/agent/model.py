"""The provider-neutral language of the agent and its model.

The agent loop speaks only these types; `codeyard.agent.providers` translates them to and from one wire
format each (OpenAI Chat Completions, Anthropic Messages). Keeping the SDK types out of the agent means
the history the agent persists, resumes and condenses is ours, and a new provider is one new module.

Errors:

    ModelError                  the model could not produce a reply; the message says why in plain words
    ├── ModelUnavailableError   gave up after retrying 429/5xx/timeouts/connection failures
    ├── ContextOverflowError    the provider said the prompt is too long: condense the history and retry
    └── ModelConfigError        CODEYARD_MODEL* does not describe a usable model
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant", "tool"]

_ROLES: tuple[Role, ...] = ("user", "assistant", "tool")

# Rough cost of a message's framing (role markers, separators) in tokens, added to its text estimate.
_MESSAGE_OVERHEAD_TOKENS = 4
_CHARS_PER_TOKEN = 4


class ModelError(Exception):
    """The model could not produce a reply."""


class ModelUnavailableError(ModelError):
    """The model did not answer after every retry (rate limits, server errors, timeouts, no connection)."""


class ContextOverflowError(ModelError):
    """The provider refused the request because the prompt is longer than the model's context window."""


class ModelConfigError(ModelError):
    """The model settings are missing or malformed."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call; `parameters` is a JSON Schema object describing its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One tool call requested by the model.

    Models sometimes emit arguments that are not a JSON object. Such a call is kept rather than
    rejected: `arguments` is empty, `raw_arguments` holds what the model sent, and
    `has_valid_arguments` is false, so the agent can tell the model what went wrong.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""

    @classmethod
    def parse(cls, id: str, name: str, raw_arguments: str) -> ToolCall:
        """Build a call from the JSON text a provider returned, tolerating malformed text."""
        return cls(id=id, name=name, arguments=_json_object(raw_arguments) or {}, raw_arguments=raw_arguments)

    @functools.cached_property
    def has_valid_arguments(self) -> bool:
        """Whether the arguments the model sent were a JSON object (or absent)."""
        return not self.raw_arguments.strip() or _json_object(self.raw_arguments) is not None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments, "raw_arguments": self.raw_arguments}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolCall:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            arguments=dict(data.get("arguments") or {}),
            raw_arguments=str(data.get("raw_arguments", "")),
        )


@dataclass(frozen=True)
class Message:
    """One entry of a conversation: a user turn, an assistant turn (maybe with tool calls), or a tool result.

    A `tool` message answers the assistant's call whose id is `tool_call_id`.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; `Message.from_json` turns it back into an equal message."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [call.to_json() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        role = data["role"]
        if role not in _ROLES:
            raise ValueError(f"unknown message role {role!r}")
        tool_call_id = data.get("tool_call_id")
        return cls(
            role=role,
            content=str(data.get("content", "")),
            tool_calls=tuple(ToolCall.from_json(call) for call in data.get("tool_calls") or ()),
            tool_call_id=None if tool_call_id is None else str(tool_call_id),
        )


@dataclass(frozen=True)
class Usage:
    """Tokens consumed by one request (or, summed with `+`, by a whole session)."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Reply:
    """What the model answered.

    `stop_reason` is normalised across providers: `end_turn`, `tool_use`, `max_tokens`, or the provider's
    own word for anything else (for example `content_filter`).
    """

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    stop_reason: str


class Model(Protocol):
    """A chat model with tool calling. Implementations retry transient failures themselves."""

    name: str
    context_window: int

    async def complete(self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Reply:
        """Ask for the next assistant turn; raises `ModelError` (or a subclass) when there is none."""
        ...

    async def aclose(self) -> None:
        """Release the connection pool; the model is not used afterwards."""
        ...


def estimate_tokens(system: str, messages: Sequence[Message]) -> int:
    """A cheap, tokenizer-free estimate (about four characters a token) for deciding when to condense."""
    chars = len(system)
    for message in messages:
        chars += len(message.content)
        for call in message.tool_calls:
            chars += len(call.name) + len(call.raw_arguments or json.dumps(call.arguments))
    return chars // _CHARS_PER_TOKEN + _MESSAGE_OVERHEAD_TOKENS * len(messages)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack allows
        return None
    return value if isinstance(value, dict) else None
