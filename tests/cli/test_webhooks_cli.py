"""`codeyard webhooks …`: what the commands send and what they print (the secret once, deliveries with their
attempts), against the scripted API server."""

import json

from typer.testing import CliRunner, Result

from codeyard.cli.main import app
from tests.sdk.fake_api import FakeAPI, Reply, page_json

ORG = "org-1"
BASE = f"/v3/organizations/{ORG}"
HOOK = {"webhook_id": "webhook-1", "org_id": ORG, "url": "https://ci.example.com/hook", "event_types": None}
SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="
DELIVERY = {
    "delivery_id": "delivery-1",
    "webhook_id": "webhook-1",
    "message_id": "msg_1",
    "event_type": "session.created",
    "status": "succeeded",
    "attempts": 2,
    "last_status_code": 200,
    "created_at": 1_700_000_000,
    "attempt_history": [
        {"attempt": 1, "attempted_at": 1_700_000_000, "status_code": 503, "error": "HTTP 503", "duration_ms": 41},
        {"attempt": 2, "attempted_at": 1_700_000_010, "status_code": None, "error": "timed out", "duration_ms": 10002},
    ],
}


def run(api: FakeAPI, *args: str) -> Result:
    env: dict[str, str | None] = {"DEVIN_API_URL": api.url, "DEVIN_API_KEY": "cog_k", "DEVIN_ORG_ID": ORG}
    return CliRunner(env=env).invoke(app, list(args))


def test_create_prints_the_secret_once(api: FakeAPI) -> None:
    api.on("POST", f"{BASE}/webhooks", Reply(json={**HOOK, "secret": SECRET}))
    result = run(api, "webhooks", "create", "https://ci.example.com/hook", "--type", "session.created", "--type",
                 "session.message", "--description", "ci")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert SECRET in result.output and "shown only now" in result.output
    assert api.requests_to("POST", f"{BASE}/webhooks")[0].json() == {
        "url": "https://ci.example.com/hook",
        "event_types": ["session.created", "session.message"],
        "description": "ci",
    }


def test_update_sends_only_what_is_given(api: FakeAPI) -> None:
    api.on("PATCH", f"{BASE}/webhooks/webhook-1", Reply(json=HOOK))
    assert run(api, "webhooks", "update", "webhook-1", "--all-types").exit_code == 0
    assert run(api, "webhooks", "update", "webhook-1", "--description", "x", "--json").exit_code == 0
    sent = [r.json() for r in api.requests_to("PATCH", f"{BASE}/webhooks/webhook-1")]
    assert sent == [{"event_types": None}, {"description": "x"}]
    nothing = run(api, "webhooks", "update", "webhook-1")
    assert nothing.exit_code == 2 and "nothing to change" in nothing.output


def test_deliveries_with_their_attempts(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/webhooks/webhook-1/deliveries", Reply(json=page_json([DELIVERY], total=1)))
    table = run(api, "webhooks", "deliveries", "webhook-1", "--attempts")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert any("delivery-1" in line and "succeeded" in line and "200" in line for line in lines)
    assert any("503" in line and "HTTP 503" in line and "41" in line for line in lines)
    assert any("timed out" in line and "10002" in line for line in lines)
    raw = run(api, "webhooks", "deliveries", "webhook-1", "--json")
    assert json.loads(raw.output)["items"][0]["attempt_history"] == DELIVERY["attempt_history"]


def test_list_get_delete(api: FakeAPI) -> None:
    api.on("GET", f"{BASE}/webhooks", Reply(json=page_json([HOOK], total=1)))
    api.on("GET", f"{BASE}/webhooks/webhook-1", Reply(json=HOOK))
    api.on("DELETE", f"{BASE}/webhooks/webhook-1", Reply(json=HOOK))
    listed = run(api, "webhooks", "list")
    assert listed.exit_code == 0 and "webhook-1" in listed.output and "(all)" in listed.output
    assert "ci.example.com" in run(api, "webhooks", "get", "webhook-1").output
    assert "deleted webhook-1" in run(api, "webhooks", "delete", "webhook-1").output
