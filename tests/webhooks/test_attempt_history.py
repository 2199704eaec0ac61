"""Each delivery keeps its latest attempts (time, status code or error, duration), bounded, listed with the
deliveries; a real loopback receiver answers, time is a controllable clock."""

from pathlib import Path

import pytest

from codeyard.sdk import AsyncClient, NotFoundError
from codeyard.services.webhooks import ATTEMPTS_KEPT, Webhooks
from codeyard.webhooks.deliverer import PRUNE_EVERY, Deliverer, build_deliverer
from tests.conftest import ApiEnv, make_settings
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


async def test_finished_deliveries_are_kept_for_the_configured_retention(
    hooks_api: ApiEnv, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Short memory"})
    clock = Clock()
    settings = make_settings(tmp_path / "other", webhook_delivery_retention_days=0.5, webhook_allow_private=True)
    built = build_deliverer(settings, Webhooks(api.db, api.services.vault, clock, allow_private=True))
    deliverer = Deliverer(built.webhooks, built.sender, poll=0.05, timeout=1.0, clock=clock, retention=built.retention)
    try:
        await settle(deliverer)
        [item] = await deliveries(api, made["webhook_id"])
        assert item["status"] == "succeeded" and len(item["attempt_history"]) == 1
        clock.now += 0.4 * 86400 + PRUNE_EVERY
        await settle(deliverer)
        assert len(await deliveries(api, made["webhook_id"])) == 1  # still within half a day
        clock.now += 0.2 * 86400
        await settle(deliverer)
    finally:
        await deliverer.stop()
    assert await deliveries(api, made["webhook_id"]) == []  # half a day, not the default week


async def test_the_sdk_manages_webhooks_and_reads_the_attempts(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    async with AsyncClient("http://testserver", api.org_key, api.org_id, http_client=api.client) as sdk:
        made = await sdk.webhooks.create(url=receiver.url, event_types=["session.created"], description="ci")
        assert made.secret is not None and made.secret.startswith("whsec_")
        receiver.secret = made.secret
        assert (await sdk.webhooks.get(made.webhook_id)).secret is None
        assert [w.webhook_id async for w in sdk.webhooks.list_all()] == [made.webhook_id]
        changed = await sdk.webhooks.update(made.webhook_id, description="all types", event_types=None)
        assert (changed.description, changed.event_types, changed.url) == ("all types", None, receiver.url)
        await sdk.webhooks.update(made.webhook_id, event_types=["session.created"])  # one delivery: a known order

        receiver.script = [500, 200]
        await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Watch my attempts"})
        clock = Clock()
        deliverer = deliverer_for(api, clock)
        try:
            await settle(deliverer)
            clock.now += 60
            await settle(deliverer)
        finally:
            await deliverer.stop()
        page = await sdk.webhooks.deliveries(made.webhook_id)
        [created] = page.items
        assert (created.event_type, created.status) == ("session.created", "succeeded")
        assert [(a.attempt, a.status_code, a.error) for a in created.attempt_history] == [
            (1, 500, "HTTP 500"),
            (2, 200, None),
        ]
        everything = [d.delivery_id async for d in sdk.webhooks.list_all_deliveries(made.webhook_id, first=1)]
        assert everything == [created.delivery_id]
        assert (await sdk.webhooks.delete(made.webhook_id)).webhook_id == made.webhook_id
        with pytest.raises(NotFoundError):
            await sdk.webhooks.deliveries(made.webhook_id)
