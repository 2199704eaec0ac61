"""The provider-neutral types and the factory that reads CODEYARD_MODEL*."""

from __future__ import annotations

import json

import pytest

from codeyard.agent.model import Message, ModelConfigError, ToolCall, Usage, estimate_tokens
from codeyard.agent.providers import ModelConfig, create_model
from codeyard.agent.providers.anthropic_messages import AnthropicMessagesModel
from codeyard.agent.providers.openai_chat import OpenAIChatModel


def test_history_round_trips_through_json_exactly() -> None:
    history = [
        Message("user", "fix the failing test"),
        Message(
            "assistant",
            "Running it.",
            (
                ToolCall(
                    "call_1",
                    "shell",
                    {"command": "pytest -x", "timeout": 60},
                    '{"command": "pytest -x", "timeout": 60}',
                ),
                ToolCall("call_2", "shell", {}, '{"command": "ls'),
            ),
        ),
        Message("tool", "1 failed", tool_call_id="call_1"),
        Message("tool", "", tool_call_id="call_2"),
        Message("assistant", "Done: é ✓"),
    ]

    stored = json.dumps([message.to_json() for message in history])
    restored = [Message.from_json(data) for data in json.loads(stored)]

    assert restored == history
    assert restored[1].tool_calls[1].raw_arguments == '{"command": "ls'


def test_from_json_rejects_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="unknown message role 'system'"):
        Message.from_json({"role": "system", "content": "x"})


@pytest.mark.parametrize(
    ("raw", "arguments", "valid"),
    [
        ('{"path": "a.py"}', {"path": "a.py"}, True),
        ("", {}, True),
        ('{"path": "a.py"', {}, False),
        ('["a.py"]', {}, False),
        ("null", {}, False),
    ],
)
def test_tool_call_parse_tolerates_malformed_arguments(raw: str, arguments: dict[str, str], valid: bool) -> None:
    call = ToolCall.parse("call_1", "read_file", raw)
    assert call.arguments == arguments
    assert call.raw_arguments == raw
    assert call.has_valid_arguments is valid


def test_tool_call_arguments_nested_past_the_stack_are_malformed_not_a_crash() -> None:
    raw = '{"a": ' * 100_000 + "1" + "}" * 100_000
    call = ToolCall.parse("call_1", "read_file", raw)
    assert call.arguments == {} and call.has_valid_arguments is False


def test_estimate_tokens_is_about_four_characters_a_token() -> None:
    short = estimate_tokens("", [Message("user", "x" * 400)])
    long = estimate_tokens(
        "s" * 4000,
        [Message("user", "x" * 400), Message("assistant", "", (ToolCall("1", "shell", {"command": "y" * 400}),))],
    )
    assert 100 <= short <= 110
    assert 1200 <= long <= 1240
    assert estimate_tokens("", []) == 0


def test_usage_adds_up_per_session() -> None:
    total = Usage(100, 20) + Usage(150, 30)
    assert total == Usage(250, 50)
    assert total.total_tokens == 300


@pytest.mark.parametrize("spec", ["gpt-4o", "azure:gpt-4o", "openai:", "anthropic:  ", ""])
def test_bad_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ModelConfigError, match=r"is not valid: use openai:<model> .* or anthropic:<model>"):
        create_model(ModelConfig(spec=spec))


def test_bad_numbers_are_config_errors() -> None:
    with pytest.raises(ModelConfigError, match="context_window must be positive"):
        create_model(ModelConfig(spec="openai:m", context_window=0))
    with pytest.raises(ModelConfigError, match="max_retries must not be negative"):
        create_model(ModelConfig(spec="openai:m", max_retries=-1))


async def test_factory_picks_the_provider_and_keeps_colons_in_model_names() -> None:
    ollama = create_model(
        ModelConfig(spec="openai:llama3.1:8b", base_url="http://127.0.0.1:11434/v1", context_window=8192)
    )
    claude = create_model(ModelConfig(spec="anthropic:claude-test"))
    try:
        assert isinstance(ollama, OpenAIChatModel)
        assert ollama.name == "openai:llama3.1:8b"
        assert ollama.context_window == 8192
        assert isinstance(claude, AnthropicMessagesModel)
        assert claude.context_window == 128000
    finally:
        await ollama.aclose()
        await claude.aclose()
