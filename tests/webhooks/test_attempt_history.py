"""Each delivery keeps its latest attempts (time, status code or error, duration), bounded, listed with the
deliveries; a real loopback receiver answers, time is a controllable clock."""

from codeyard.services.webhooks import ATTEMPTS_KEPT
from tests.conftest import ApiEnv
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks.test_delivery import Clock, deliverer_for, deliveries, hook, settle


async def test_every_attempt_is_listed_with_its_answer(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    receiver.script = [500, "hang", 200]
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Keep my attempts"})
    clock = Clock()
    times = []
    deliverer = deliverer_for(api, clock, timeout=0.5)
    try:
        for _ in range(3):
            times.append(int(clock.now))
            await settle(deliverer)
            [item] = await deliveries(api, made["webhook_id"])
            clock.now = max(clock.now, (item["next_attempt_at"] or clock.now) + 1)
    finally:
        await deliverer.stop()
    [item] = await deliveries(api, made["webhook_id"])
    history = item["attempt_history"]
    assert item["status"] == "succeeded" and item["attempts"] == 3
    assert [a["attempt"] for a in history] == [1, 2, 3]
    assert [a["status_code"] for a in history] == [500, None, 200]
    assert [a["error"] for a in history] == ["HTTP 500", "timed out", None]
    assert [a["attempted_at"] for a in history] == times
    assert all(isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0 for a in history)
    assert (history[-1]["status_code"], history[-1]["attempted_at"]) == (
        item["last_status_code"],
        item["last_attempt_at"],
    )


async def test_only_the_latest_attempts_are_kept(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    receiver.script = [503] * 40
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Never answered"})
    clock = Clock()
    deliverer = deliverer_for(api, clock)
    tries = ATTEMPTS_KEPT + 5
    try:
        for _ in range(tries):
            await settle(deliverer)
            [item] = await deliveries(api, made["webhook_id"])
            clock.now = max(clock.now, item["next_attempt_at"] + 1)
    finally:
        await deliverer.stop()
    [item] = await deliveries(api, made["webhook_id"])
    assert item["attempts"] == tries and receiver.attempts == tries
    history = item["attempt_history"]
    assert [a["attempt"] for a in history] == list(range(tries - ATTEMPTS_KEPT + 1, tries + 1))
    assert {(a["status_code"], a["error"]) for a in history} == {(503, "HTTP 503")}


async def test_a_delivery_not_tried_yet_has_no_history(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Not yet"})
    clock = Clock()
    deliverer = deliverer_for(api, clock)
    try:
        await deliverer.webhooks.take(0, 30.0, fan_out=10)  # fanned out, not sent
    finally:
        await deliverer.stop()
    [item] = await deliveries(api, made["webhook_id"])
    assert (item["status"], item["attempts"], item["attempt_history"]) == ("pending", 0, [])
