"""Issue 8 through real sessions: what the agent produces is redacted, a user pattern cannot freeze the runner,
and a model failure is reported without the model's address."""

import httpx2

from codeyard.sdk import Client
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import settled, wait_for
from tests.runtime.test_runtime_e2e import tool_results

SECRET = "s3cr3t-value-8080"


def test_structured_output_and_text_attachments_are_redacted(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-LEAK",
        [
            Step.tool("submit_structured_output", {"output": {"token": SECRET, "list": [f"x {SECRET} y"]}}),
            Step.tool("write_file", {"path": "report.txt", "content": f"the key is {SECRET}\n"}),
            Step.tool("attach_file", {"path": "report.txt"}),
            Step.text("leaked nothing"),
        ],
    )
    session = client.sessions.create(
        prompt="TASK-LEAK go",
        structured_output_schema={"type": "object"},
        session_secrets=[{"key": "TOKEN", "value": SECRET, "sensitive": True}],
    )
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    assert done.structured_output == {"token": "[REDACTED:TOKEN]", "list": ["x [REDACTED:TOKEN] y"]}
    attached = [a for a in client.sessions.attachments(session.session_id) if a.source == "devin"]
    assert len(attached) == 1
    content = httpx2.get(attached[0].url).text
    assert SECRET not in content and "[REDACTED:TOKEN]" in content


def test_a_backtracking_pattern_in_the_schema_does_not_freeze_the_runner(
    client: Client, model_server: FakeModelServer
) -> None:
    model_server.add_script(
        "TASK-REDOS",
        [
            Step.tool("submit_structured_output", {"output": {"s": "a" * 5000 + "!"}}),
            Step.tool("submit_structured_output", {"output": {"s": "aaaa"}}),
            Step.text("submitted"),
        ],
    )
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}, "required": ["s"]}
    session = client.sessions.create(prompt="TASK-REDOS go", structured_output_schema=schema)
    done = wait_for(client, session.session_id, settled, timeout=120)
    assert (done.status, done.status_detail) == ("exit", "finished")
    assert done.structured_output == {"s": "aaaa"}
    assert tool_results(model_server, "TASK-REDOS")[0].startswith("error: the output does not match")


def test_a_model_error_does_not_show_the_models_address(client: Client, model_server: FakeModelServer) -> None:
    model_server.add_script("TASK-NOKEY", [Step.error(401, {"error": {"message": "bad key"}})])
    session = client.sessions.create(prompt="TASK-NOKEY go")
    done = wait_for(client, session.session_id, settled)
    assert done.status == "error"
    message = client.sessions.messages(session.session_id).items[-1].message
    assert "model" in message and "401" in message
    host = model_server.base_url.split("//", 1)[1].split("/", 1)[0]
    assert host not in message and host not in (done.model_extra or {}).get("error_message", "")
