"""What a session does with model answers it cannot use or cannot store whole, on both providers, and what
``serve`` says about the model settings at start."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeyard.sdk import Client
from tests.conftest import REPO, SERVER_START_LIMIT_S, LiveServer, free_port, start_server, stop_server
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import runtime_env, settled, wait_for

MIB = 1024 * 1024
HTML = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"


@pytest.fixture(scope="module")
def anthropic_runtime(tmp_path_factory: pytest.TempPathFactory, model_server: FakeModelServer) -> Iterator[LiveServer]:
    env = runtime_env(
        model_server,
        CODEYARD_MODEL="anthropic:scripted",
        CODEYARD_MODEL_BASE_URL=model_server.anthropic_base_url,
        CODEYARD_MAX_TOOL_OUTPUT_CHARS="5000",
    )
    server = start_server(tmp_path_factory.mktemp("anthropic") / "data", env)
    yield server
    stop_server(server)


@pytest.fixture(params=["openai", "anthropic"])
def provider_client(
    request: pytest.FixtureRequest, runtime: LiveServer, anthropic_runtime: LiveServer
) -> Iterator[tuple[str, Client]]:
    server = runtime if request.param == "openai" else anthropic_runtime
    with Client(base_url=server.url, api_key=server.org_key, org_id=server.org_id) as client:
        yield request.param, client


@pytest.mark.parametrize(
    ("garbage", "words"),
    [
        (Step.raw(HTML), 'an HTML page titled "502 Bad Gateway"'),
        (Step.raw(bytes(range(128, 256)) * 8, "application/octet-stream"), "1024 bytes of binary data"),
        (Step.raw('{"id": "msg_1", "content": [{"type": "text", "te', "application/json"), "JSON cut off after"),
    ],
    ids=["html", "bytes", "cut-json"],
)
def test_a_model_that_keeps_answering_garbage_ends_the_session_in_plain_words(
    provider_client: tuple[str, Client], model_server: FakeModelServer, garbage: Step, words: str
) -> None:
    provider, client = provider_client
    task = f"TASK-GARBLED-{provider}-{words[:8]}"
    model_server.add_script(task, [garbage] * 10)
    session = client.sessions.create(prompt=f"{task} say something")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("error", "error")
    last = client.sessions.messages(session.session_id).items[-1]
    assert last.source == "devin"
    expected = "a Chat Completions answer" if provider == "openai" else "a Messages answer"
    assert last.message.startswith(
        "I had to stop: the model failed. the model endpoint gave no usable answer in 4 attempts: "
        f"the model endpoint answered HTTP 200 with {words}"
    )
    assert last.message.endswith(f"instead of {expected}")
    assert f":{model_server.port}" not in last.message and "test-model-key" not in last.message
    assert "internal error" not in last.message


def test_a_garbled_answer_then_a_good_one_lets_the_session_finish(
    provider_client: tuple[str, Client], model_server: FakeModelServer
) -> None:
    provider, client = provider_client
    task = f"TASK-GARBLED-ONCE-{provider}"
    model_server.add_script(task, [Step.raw(HTML), Step.raw("{", "application/json"), Step.text("Recovered.")])
    session = client.sessions.create(prompt=f"{task} say something")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    assert client.sessions.messages(session.session_id).items[-1].message == "Recovered."


def test_a_5_mib_reply_is_stored_cut_and_marked(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-HUGE-REPLY", [Step.text("START " + "A" * (5 * MIB) + " END")])
    session = client.sessions.create(prompt="TASK-HUGE-REPLY write a lot")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    last = client.sessions.messages(session.session_id).items[-1].message
    assert last.startswith("START AAAA") and last.endswith("A END")
    assert len(last) <= 200_000
    assert "[… model reply cut: " in last and f"of {5 * MIB + 10:,} characters left out here …]" in last
    client.sessions.send_message(session.session_id, "TASK-HUGE-REPLY and then?")
    wait_for(
        client,
        session.session_id,
        lambda s: s.status == "exit" and len(client.sessions.messages(s.session_id).items) > 3,
    )
    resent = [r for r in model_server.requests_to("/v1/chat/completions") if "TASK-HUGE-REPLY" in str(r.body)][-1]
    assert len(str(resent.body)) < 400_000  # the model is sent what was stored, not the 5 MiB


def test_a_tool_call_with_5_mib_of_arguments_is_refused_and_not_stored(
    client: Client, runtime: LiveServer, model_server: FakeModelServer
) -> None:
    arguments = {"path": "big.txt", "content": "B" * (5 * MIB)}
    model_server.add_script("TASK-HUGE-ARGS", [Step.tool("write_file", arguments), Step.text("gave up")])
    session = client.sessions.create(prompt="TASK-HUGE-ARGS write a big file")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    assert not (runtime.data_dir / "workspaces" / session.session_id / "big.txt").exists()
    last = [r for r in model_server.requests_to("/v1/chat/completions") if "TASK-HUGE-ARGS" in str(r.body)][-1]
    call, result = last.body["messages"][-2:]
    assert call["tool_calls"][0]["function"]["arguments"] == "{}"
    assert result["content"].startswith(
        f"error: the arguments of this call were {len(json.dumps(arguments)):,} characters, more than the 200,000"
    )


def test_a_long_tool_output_is_cut_to_the_setting_and_marked(
    anthropic_runtime: LiveServer, model_server: FakeModelServer
) -> None:
    model_server.add_script(
        "TASK-LONG-OUTPUT",
        [Step.tool("run_command", {"command": "echo FIRST; seq 1 20000; echo LAST"}), Step.text("read it")],
    )
    with Client(
        base_url=anthropic_runtime.url, api_key=anthropic_runtime.org_key, org_id=anthropic_runtime.org_id
    ) as c:
        session = c.sessions.create(prompt="TASK-LONG-OUTPUT count")
        wait_for(c, session.session_id, settled)
    last = [r for r in model_server.requests_to("/v1/messages") if "TASK-LONG-OUTPUT" in str(r.body)][-1]
    result = last.body["messages"][-1]["content"][0]["content"]
    assert len(result) <= 5000
    assert "FIRST" in result and result.rstrip().endswith("LAST") and "[… tool output cut: " in result


def test_serve_refuses_a_bad_model_spec_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEYARD_", "DEVIN_"))}
    env |= {
        "CODEYARD_DATA_DIR": str(tmp_path / "data"),
        "CODEYARD_PORT": str(free_port()),
        "CODEYARD_MODEL": "ollama:llama3",
        "PYTHONPATH": str(REPO / "src"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "codeyard", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=SERVER_START_LIMIT_S,  # exits at once; the limit only bounds a hang
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "CODEYARD_MODEL='ollama:llama3' is not valid" in lines[0]
    assert "openai:<model>" in lines[0] and "anthropic:<model>" in lines[0]
    assert not (tmp_path / "data" / "codeyard.db").exists()  # refused before touching anything
