"""``schedule.fired``: a schedule's due time that starts a session is delivered to the org's webhooks."""

import datetime
import time

from codeyard.scheduler.ticker import Ticker
from tests.conftest import ApiEnv
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks.test_delivery import Clock, deliverer_for, hook, settle


async def test_a_fired_schedule_is_delivered(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    await hook(api, receiver, event_types=["schedule.fired"])
    due = datetime.datetime.fromtimestamp(int(time.time()) + 120, datetime.UTC)
    body = {"prompt": "Nightly checks", "schedule_type": "one_time", "scheduled_at": due.isoformat()}
    created = await api.client.post(api.org_path("/schedules"), headers=api.auth(), json=body)
    assert created.status_code == 200, created.text
    schedule_id = created.json()["schedule_id"]

    clock = Clock()
    clock.now = due.timestamp() + 1
    await Ticker(api.services.schedule_runs, clock).tick()
    deliverer = deliverer_for(api, Clock())
    try:
        await settle(deliverer)
    finally:
        await deliverer.stop()

    [got] = receiver.wait_for(lambda got: len(got) >= 1, timeout=5)
    data = got["body"]["data"]
    assert got["body"]["type"] == "schedule.fired"
    assert (data["schedule_id"], data["outcome"], data["org_id"]) == (schedule_id, "session_created", api.org_id)
    assert data["due_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    session = await api.client.get(api.org_path(f"/sessions/{data['session_id']}"), headers=api.auth())
    assert session.json()["origin"] == "automation"
