"""Both providers, through the real SDKs, against the scripted model server over real HTTP."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest

from codeyard.agent.model import (
    ContextOverflowError,
    Message,
    Model,
    ModelError,
    ModelUnavailableError,
    ToolSpec,
    Usage,
)
from codeyard.agent.providers import ModelConfig, RetryNotice, create_model
from tests.fakes.model_server import FakeModelServer, Step

# (provider, streamed) — every behaviour is checked in each dialect and transfer mode.
VARIANTS = [("openai", False), ("openai", True), ("anthropic", False), ("anthropic", True)]
VARIANT_IDS = [f"{provider}-{'stream' if stream else 'whole'}" for provider, stream in VARIANTS]

SHELL = ToolSpec(
    name="shell",
    description="Run a shell command in the workspace.",
    parameters={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
)

Connect = Callable[..., Model]


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as running:
        yield running


@pytest.fixture
def server(running_server: FakeModelServer) -> FakeModelServer:
    running_server.reset()
    return running_server


@pytest.fixture(params=VARIANTS, ids=VARIANT_IDS)
async def connect(request: pytest.FixtureRequest, server: FakeModelServer) -> AsyncIterator[Connect]:
    """Builds a model of the parametrised variant pointed at the fake server; closes them all afterwards."""
    provider, stream = request.param
    models: list[Model] = []

    def build(on_retry: Callable[[RetryNotice], None] | None = None, **overrides: Any) -> Model:
        base_url = server.base_url if provider == "openai" else server.anthropic_base_url
        model_name = "gpt-test" if provider == "openai" else "claude-test"
        settings: dict[str, Any] = {"base_url": base_url, "stream": stream, "retry_base_delay": 0.01, **overrides}
        model = create_model(ModelConfig(spec=f"{provider}:{model_name}", **settings), on_retry=on_retry)
        models.append(model)
        return model

    yield build
    for model in models:
        await model.aclose()


def provider_of(model: Model) -> str:
    return model.name.partition(":")[0]


def path_of(model: Model) -> str:
    return "/v1/chat/completions" if provider_of(model) == "openai" else "/v1/messages"


async def test_text_reply_and_usage(server: FakeModelServer, connect: Connect) -> None:
    server.add_script("say hello", [Step.text("Hello from the fake model.", usage=(120, 7))])
    model = connect()

    reply = await model.complete("You are terse.", [Message("user", "please say hello")], [SHELL])

    assert reply.text == "Hello from the fake model."
    assert reply.tool_calls == ()
    assert reply.usage == Usage(input_tokens=120, output_tokens=7)
    assert reply.stop_reason == "end_turn"
    [request] = server.requests
    assert request.path == path_of(model)
    if provider_of(model) == "openai":
        assert request.body["model"] == "gpt-test"
        assert request.body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert request.body["tools"] == [
            {
                "type": "function",
                "function": {"name": "shell", "description": SHELL.description, "parameters": SHELL.parameters},
            }
        ]
        if request.body.get("stream"):
            assert request.body["stream_options"] == {"include_usage": True}
    else:
        assert request.body["model"] == "claude-test"
        assert request.body["system"] == "You are terse."
        assert request.body["tools"] == [
            {"name": "shell", "description": SHELL.description, "input_schema": SHELL.parameters}
        ]
        assert request.body["max_tokens"] == 4096


async def test_tool_calls_round_trip_in_the_wire_shape(server: FakeModelServer, connect: Connect) -> None:
    server.add_script(
        "list the files",
        [
            Step.tools(("shell", {"command": "ls -la"}), ("shell", {"command": "git status"}), text="Looking."),
            Step.text("There are two files."),
        ],
    )
    model = connect()
    history = [Message("user", "list the files please")]

    first = await model.complete("sys", history, [SHELL])

    assert first.stop_reason == "tool_use"
    assert first.text == "Looking."
    assert [(call.name, call.arguments) for call in first.tool_calls] == [
        ("shell", {"command": "ls -la"}),
        ("shell", {"command": "git status"}),
    ]
    assert all(call.id and call.has_valid_arguments for call in first.tool_calls)
    one, two = first.tool_calls
    history += [
        Message("assistant", first.text, first.tool_calls),
        Message("tool", "a.txt\nb.txt", tool_call_id=one.id),
        Message("tool", "clean", tool_call_id=two.id),
    ]

    second = await model.complete("sys", history, [SHELL])

    assert second.text == "There are two files."
    sent = server.requests[1].body["messages"]
    if provider_of(model) == "openai":
        assert sent[1:] == [
            {"role": "user", "content": "list the files please"},
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [
                    {"id": one.id, "type": "function", "function": {"name": "shell", "arguments": one.raw_arguments}},
                    {"id": two.id, "type": "function", "function": {"name": "shell", "arguments": two.raw_arguments}},
                ],
            },
            {"role": "tool", "tool_call_id": one.id, "content": "a.txt\nb.txt"},
            {"role": "tool", "tool_call_id": two.id, "content": "clean"},
        ]
        assert json.loads(sent[2]["tool_calls"][0]["function"]["arguments"]) == {"command": "ls -la"}
    else:
        assert sent == [
            {"role": "user", "content": [{"type": "text", "text": "list the files please"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": one.id, "name": "shell", "input": {"command": "ls -la"}},
                    {"type": "tool_use", "id": two.id, "name": "shell", "input": {"command": "git status"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": one.id, "content": "a.txt\nb.txt"},
                    {"type": "tool_result", "tool_use_id": two.id, "content": "clean"},
                ],
            },
        ]


async def test_tool_only_turn_sends_no_empty_text(server: FakeModelServer, connect: Connect) -> None:
    server.add_script("just act", [Step.tool("shell", {"command": "pwd"}), Step.text("ok")])
    model = connect()
    history = [Message("user", "just act")]
    first = await model.complete("", history, [SHELL])
    assert first.text == ""

    result = Message("tool", "/w", tool_call_id=first.tool_calls[0].id)
    await model.complete("", [*history, Message("assistant", "", first.tool_calls), result], [SHELL])

    sent = server.requests[1].body
    if provider_of(model) == "openai":
        assert [message["role"] for message in sent["messages"]] == ["user", "assistant", "tool"]
        assert "content" not in sent["messages"][1]
    else:
        assistant = sent["messages"][1]
        assert [block["type"] for block in assistant["content"]] == ["tool_use"]
        assert "system" not in server.requests[1].body


async def test_invalid_tool_arguments_do_not_crash(server: FakeModelServer, connect: Connect) -> None:
    server.add_script("break json", [Step.tool("shell", '{"command": "ls'), Step.text("recovered")])
    model = connect()

    reply = await model.complete("", [Message("user", "break json")], [SHELL])

    [call] = reply.tool_calls
    assert call.name == "shell"
    assert call.arguments == {}
    assert not call.has_valid_arguments
    assert "ls" in call.raw_arguments
    history = [
        Message("user", "break json"),
        Message("assistant", reply.text, reply.tool_calls),
        Message("tool", "error: the arguments were not valid JSON", tool_call_id=call.id),
    ]
    assert (await model.complete("", history, [SHELL])).text == "recovered"
    if provider_of(model) == "openai":
        assert server.requests[1].body["messages"][1]["tool_calls"][0]["function"]["arguments"] == "{}"


async def test_server_error_then_recovery(server: FakeModelServer, connect: Connect) -> None:
    notices: list[RetryNotice] = []
    server.add_script("flaky", [Step.error(500, "internal hiccup"), Step.text("recovered")])
    model = connect(on_retry=notices.append)

    reply = await model.complete("", [Message("user", "flaky please")], [])

    assert reply.text == "recovered"
    assert len(server.requests_to(path_of(model))) == 2
    assert [notice.attempt for notice in notices] == [1]
    assert "HTTP 500" in notices[0].reason and "internal hiccup" in notices[0].reason


async def test_stream_broken_off_by_the_server_is_retried(server: FakeModelServer, connect: Connect) -> None:
    notices: list[RetryNotice] = []
    server.add_script("overloaded", [Step.stream_error("Overloaded"), Step.text("second try")])
    model = connect(on_retry=notices.append)

    reply = await model.complete("", [Message("user", "overloaded provider")], [])

    assert reply.text == "second try"
    assert len(server.requests) == 2
    streamed = server.requests[0].body.get("stream", False)
    assert notices[0].reason == ("the stream broke off: Overloaded" if streamed else "HTTP 500: Overloaded")


async def test_rate_limit_retry_after_is_honoured(server: FakeModelServer, connect: Connect) -> None:
    notices: list[RetryNotice] = []
    server.add_script("busy", [Step.error(429, "slow down", retry_after=0.1), Step.text("your turn")])
    model = connect(on_retry=notices.append)

    reply = await model.complete("", [Message("user", "busy model")], [])

    assert reply.text == "your turn"
    assert len(server.requests) == 2
    assert [notice.delay for notice in notices] == [0.1]


async def test_retries_exhausted_raise_unavailable_in_plain_words(server: FakeModelServer, connect: Connect) -> None:
    server.add_script("down", [Step.error(503, "overloaded")] * 5)
    model = connect(max_retries=2)

    with pytest.raises(ModelUnavailableError) as caught:
        await model.complete("", [Message("user", "down for maintenance")], [])

    assert str(caught.value) == "the model endpoint gave no usable answer in 3 attempts: HTTP 503: overloaded"
    assert len(server.requests) == 3
    assert caught.value.__cause__ is not None


async def test_authentication_failure_is_not_retried(server: FakeModelServer, connect: Connect) -> None:
    server.add_script("secret", [Step.error(401, "invalid api key"), Step.text("never")])
    model = connect(api_key="sk-wrong")

    with pytest.raises(ModelError) as caught:
        await model.complete("", [Message("user", "secret stuff")], [])

    assert not isinstance(caught.value, ModelUnavailableError | ContextOverflowError)
    assert "HTTP 401" in str(caught.value) and "invalid api key" in str(caught.value)
    [request] = server.requests
    assert request.headers["authorization"] == "Bearer sk-wrong"


async def test_context_overflow_is_recognised(server: FakeModelServer, connect: Connect) -> None:
    openai_body = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    anthropic_body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"},
    }
    model = connect()
    body = openai_body if provider_of(model) == "openai" else anthropic_body
    server.add_script("huge", [Step.error(400, body), Step.text("never")])

    with pytest.raises(ContextOverflowError) as caught:
        await model.complete("", [Message("user", "huge history")], [])

    assert "context" in str(caught.value) or "too long" in str(caught.value)
    assert len(server.requests) == 1


async def test_other_bad_requests_are_plain_errors(server: FakeModelServer, connect: Connect) -> None:
    server.add_script("bad", [Step.error(400, "tools.0.name: String should match pattern"), Step.text("never")])
    model = connect()

    with pytest.raises(ModelError) as caught:
        await model.complete("", [Message("user", "bad tool name")], [])

    assert type(caught.value) is ModelError
    assert "String should match pattern" in str(caught.value)
    assert len(server.requests) == 1


async def test_timeout_then_recovery(server: FakeModelServer, connect: Connect) -> None:
    notices: list[RetryNotice] = []
    server.add_script("slow", [Step.delay(2), Step.text("finally")])
    model = connect(on_retry=notices.append, request_timeout=0.25)

    reply = await model.complete("", [Message("user", "slow model")], [])

    assert reply.text == "finally"
    assert len(server.requests) >= 2  # a loaded machine may time out the prompt answer too, and retry again
    assert notices[0].reason == "no answer within 0.25 seconds"


async def test_unreachable_server_is_unavailable(connect: Connect) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    model = connect(base_url=f"http://127.0.0.1:{closed_port}/v1", max_retries=1)

    with pytest.raises(ModelUnavailableError, match="gave no usable answer in 2 attempts: could not connect"):
        await model.complete("", [Message("user", "anyone there?")], [])


GARBLED = [
    (
        Step.raw("<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"),
        'an HTML page titled "502 Bad Gateway"',
    ),
    (Step.raw(random.Random(7).randbytes(512), "application/octet-stream"), "512 bytes of binary data"),
    (
        Step.raw('{"id": "chatcmpl-1", "type": "message", "choices": [{"index": 0, "mess', "application/json"),
        "JSON cut off",
    ),
    (Step.raw('{"error": {"message": "upstream timed out"}}', "application/json"), 'an error ("upstream timed out")'),
    (Step.raw("", "application/json"), "an empty body"),
]
GARBLED_IDS = ["html", "bytes", "cut-json", "error-json", "empty"]


@pytest.mark.parametrize(("garbage", "words"), GARBLED, ids=GARBLED_IDS)
async def test_a_garbled_answer_is_retried_like_a_server_error(
    server: FakeModelServer, connect: Connect, garbage: Step, words: str
) -> None:
    notices: list[RetryNotice] = []
    server.add_script("garbled", [garbage, Step.text("recovered")])
    model = connect(on_retry=notices.append)

    reply = await model.complete("", [Message("user", "garbled proxy")], [])

    assert reply.text == "recovered"
    assert len(server.requests) == 2
    assert [n.attempt for n in notices] == [1]
    assert notices[0].reason.startswith(f"the model endpoint answered HTTP 200 with {words}")


@pytest.mark.parametrize(("garbage", "words"), GARBLED, ids=GARBLED_IDS)
async def test_a_garbled_answer_every_time_ends_in_plain_words_without_url_or_key(
    server: FakeModelServer, connect: Connect, garbage: Step, words: str
) -> None:
    server.add_script("always garbled", [garbage] * 3)
    model = connect(max_retries=2, api_key="sk-garbled-secret")

    with pytest.raises(ModelUnavailableError) as caught:
        await model.complete("", [Message("user", "always garbled")], [])

    message = str(caught.value)
    expected = "a Chat Completions answer" if provider_of(model) == "openai" else "a Messages answer"
    assert message.startswith(
        f"the model endpoint gave no usable answer in 3 attempts: the model endpoint answered HTTP 200 with {words}"
    )
    assert message.endswith(f"instead of {expected}")
    assert str(server.port) not in message and "sk-garbled-secret" not in message
    assert len(server.requests) == 3


async def test_a_broken_event_inside_a_stream_is_retried(server: FakeModelServer, connect: Connect) -> None:
    notices: list[RetryNotice] = []
    events = 'event: message_start\ndata: {"type": "message_start", "mess\n\ndata: {"id": "chatcmpl-1", "cho\n\n'
    server.add_script("broken event", [Step.raw(events, "text/event-stream"), Step.text("whole again")])
    model = connect(on_retry=notices.append)

    reply = await model.complete("", [Message("user", "broken event stream")], [])

    assert reply.text == "whole again"
    streamed = server.requests[0].body.get("stream", False)
    words = "a stream event that is not" if streamed else 'text that is not JSON ("event: message_start'
    assert words in notices[0].reason


async def test_a_whole_answer_to_a_streamed_request_is_read_as_the_answer(
    server: FakeModelServer, connect: Connect
) -> None:
    model = connect()
    if provider_of(model) == "openai":
        message = {"role": "assistant", "content": "whole anyway"}
        answer: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    else:
        answer = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [{"type": "text", "text": "whole anyway"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 2},
        }
    server.add_script("ignores stream", [Step.raw(json.dumps(answer), "application/json"), Step.text("never")])

    reply = await model.complete("", [Message("user", "a server that ignores stream")], [])

    assert reply.text == "whole anyway" and reply.stop_reason == "end_turn"
    assert len(server.requests) == 1


async def test_a_mislabelled_body_without_events_is_garbled_not_an_empty_reply(
    server: FakeModelServer, connect: Connect
) -> None:
    notices: list[RetryNotice] = []
    server.add_script("plain", [Step.raw("service unavailable, try later", "text/plain"), Step.text("back")])
    model = connect(on_retry=notices.append)

    reply = await model.complete("", [Message("user", "plain text answer")], [])

    assert reply.text == "back"
    streamed = server.requests[0].body.get("stream", False)
    words = "an event stream without a single" if streamed else 'text that is not JSON ("service unavailable'
    assert f"answered HTTP 200 with {words}" in notices[0].reason


async def test_openai_stream_splits_tool_call_arguments_across_chunks(server: FakeModelServer) -> None:
    """The streamed tests above assemble real fragments: check the fake really fragments them."""
    server.add_script("fragments", [Step.tool("shell", {"command": "echo a long enough command line"})])
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "fragments"}]}

    async with httpx2.AsyncClient() as client:
        response = await client.post(f"{server.base_url}/chat/completions", json=body)

    chunks = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    fragments = [
        delta["function"]["arguments"]
        for chunk in chunks
        for choice in chunk["choices"]
        for delta in choice["delta"].get("tool_calls", [])
        if delta.get("function", {}).get("arguments")
    ]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == {"command": "echo a long enough command line"}
    assert response.text.rstrip().endswith("data: [DONE]")
