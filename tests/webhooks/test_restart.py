"""At least once across a crash: messages written to the outbox by a server that dies before sending them are
delivered by the next server on the same database (real ``codeyard serve`` processes, a real receiver)."""

import signal
from pathlib import Path

import httpx2
import pytest

from tests.conftest import start_server, stop_server
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.slow


def test_the_outbox_survives_a_crash(tmp_path: Path, receiver: WebhookReceiver) -> None:
    data = tmp_path / "data"
    env = {"CODEYARD_WEBHOOK_ALLOW_PRIVATE": "true", "CODEYARD_RUNNER_ENABLED": "false"}
    first = start_server(data, env | {"CODEYARD_WEBHOOKS_ENABLED": "false"})  # writes the outbox, sends nothing
    try:
        auth = {"Authorization": f"Bearer {first.org_key}"}
        base = f"{first.url}/v3/organizations/{first.org_id}"
        made = httpx2.post(f"{base}/webhooks", headers=auth, json={"url": receiver.url}, timeout=10).json()
        receiver.secret = made["secret"]
        session = httpx2.post(f"{base}/sessions", headers=auth, json={"prompt": "Survive"}, timeout=10).json()
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    assert receiver.attempts == 0

    second = start_server(data, env)
    try:
        got = receiver.wait_for(lambda got: len(got) >= 2, timeout=30)
        by_type = {r["body"]["type"]: r["body"]["data"] for r in got}
        assert by_type["session.created"]["session_id"] == session["session_id"]
        assert by_type["session.message"]["message"] == "Survive"
        auth = {"Authorization": f"Bearer {second.org_key}"}
        listed = httpx2.get(
            f"{second.url}/v3/organizations/{second.org_id}/webhooks/{made['webhook_id']}/deliveries",
            headers=auth,
            timeout=10,
        ).json()
        assert {d["status"] for d in listed["items"]} == {"succeeded"} and listed["total"] == 2
    finally:
        stop_server(second)
    assert receiver.rejected == []
