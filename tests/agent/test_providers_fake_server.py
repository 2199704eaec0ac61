"""The scripted model server's own contract: stateless step choice, one-shot errors, the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from codeyard.agent.model import Message
from codeyard.agent.providers import ModelConfig, create_model
from tests.fakes.model_server import FakeModelServer, Step

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as running:
        yield running


@pytest.fixture
def server(running_server: FakeModelServer) -> FakeModelServer:
    running_server.reset()
    return running_server


def ask(server: FakeModelServer, messages: list[dict[str, Any]]) -> httpx2.Response:
    body = {"model": "m", "messages": messages}
    return httpx2.post(f"{server.base_url}/chat/completions", json=body, timeout=10)


def content(response: httpx2.Response) -> Any:
    return response.json()["choices"][0]["message"]["content"]


def test_step_follows_the_assistant_turns_already_in_the_request(server: FakeModelServer) -> None:
    server.add_script("resume me", [Step.text("first"), Step.text("second"), Step.text("third")])
    resumed = [
        {"role": "user", "content": "please resume me"},
        {"role": "assistant", "content": "first"},
        {"role": "user", "content": "go on"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "and again"},
    ]

    assert content(ask(server, resumed)) == "third"
    assert content(ask(server, resumed[:1])) == "first"
    assert content(ask(server, [*resumed, {"role": "assistant", "content": "third"}])) == "done"


def test_errors_are_served_once_per_conversation_then_the_step(server: FakeModelServer) -> None:
    server.set_default_script([Step.error(503, "warming up", retry_after=4), Step.text("ready")])

    for prompt in ("conversation one", "conversation two"):
        failed = ask(server, [{"role": "user", "content": prompt}])
        assert failed.status_code == 503
        assert failed.headers["retry-after"] == "4"
        assert failed.json() == {
            "error": {"message": "warming up", "type": "server_error", "param": None, "code": None}
        }
        assert content(ask(server, [{"role": "user", "content": prompt}])) == "ready"


def test_first_matching_script_wins_and_unmatched_conversations_are_done(server: FakeModelServer) -> None:
    server.add_script("deploy", [Step.text("deploying")])
    server.add_script("deploy the docs", [Step.text("never chosen")])

    assert content(ask(server, [{"role": "user", "content": "deploy the docs now"}])) == "deploying"
    assert content(ask(server, [{"role": "user", "content": "something else"}])) == "done"
    assert [request.body["messages"][0]["content"] for request in server.requests] == [
        "deploy the docs now",
        "something else",
    ]


def test_anthropic_errors_have_the_anthropic_shape(server: FakeModelServer) -> None:
    server.add_script("overloaded", [Step.error(529, "Overloaded")])
    body = {"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "overloaded?"}]}

    response = httpx2.post(f"{server.anthropic_base_url}/v1/messages", json=body, timeout=10)

    assert response.status_code == 529
    assert response.json() == {"type": "error", "error": {"type": "api_error", "message": "Overloaded"}}


async def test_command_line_server_serves_a_script_file(tmp_path: Path) -> None:
    script = {
        "scripts": [
            {
                "match": "from a file",
                "steps": [{"error": 500, "body": "once"}, {"tool": "shell", "arguments": {"command": "ls"}}],
            }
        ],
        "default": [{"text": "default answer", "usage": [5, 2]}],
    }
    script_file = tmp_path / "script.json"
    script_file.write_text(json.dumps(script))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.model_server", "--port", "0", "--script", str(script_file)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("fake model server listening on http://127.0.0.1:")
        base_url = banner.rsplit(" ", 1)[1].strip()
        anthropic_url = base_url.removesuffix("/v1")
        model = create_model(ModelConfig(spec="anthropic:claude-test", base_url=anthropic_url, retry_base_delay=0.01))
        try:
            scripted = await model.complete("", [Message("user", "read it from a file")], [])
            default = await model.complete("", [Message("user", "anything")], [])
        finally:
            await model.aclose()
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert [(call.name, call.arguments) for call in scripted.tool_calls] == [("shell", {"command": "ls"})]
    assert default.text == "default answer"
    assert (default.usage.input_tokens, default.usage.output_tokens) == (5, 2)


def test_step_from_json_rejects_unknown_steps() -> None:
    with pytest.raises(ValueError, match="not a script step"):
        Step.from_json({"sing": "a song"})
