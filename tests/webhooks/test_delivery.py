"""Webhook delivery into a real loopback receiver that verifies every signature with ``standardwebhooks``:
the outbox written with the change, retries with backoff after a 500 and a timeout, the retry window, the
address re-checked at delivery time. Time is a controllable clock; the receiver and the HTTP are real."""

import asyncio
import socket
import threading
import time
from typing import Any

from sqlalchemy import func, select

from codeyard.services.webhooks import Webhooks, WebhookSpec
from codeyard.storage.tables import WebhookMessage
from codeyard.webhooks.deliverer import Deliverer
from codeyard.webhooks.sender import Sender
from tests.conftest import ApiEnv
from tests.fakes.webhook_receiver import WebhookReceiver


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def deliverer_for(api: ApiEnv, clock: Clock, *, timeout: float = 1.0, allow_private: bool = True) -> Deliverer:
    webhooks = Webhooks(api.db, api.services.vault, clock, allow_private=True, retry_window=86400.0)
    sender = Sender(timeout=timeout, allow_private=allow_private)
    return Deliverer(webhooks, sender, poll=0.05, listened_poll=0.05, timeout=timeout, clock=clock)


async def settle(deliverer: Deliverer) -> None:
    """One round, and every delivery it started finished."""
    await deliverer.round()
    while deliverer.in_flight:
        await asyncio.gather(*(task for _, task in list(deliverer.in_flight.values())))


async def hook(api: ApiEnv, receiver: WebhookReceiver, **body: Any) -> dict[str, Any]:
    response = await api.client.post(api.org_path("/webhooks"), headers=api.auth(), json={"url": receiver.url, **body})
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    receiver.secret = made["secret"]
    return made


async def deliveries(api: ApiEnv, webhook_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(api.org_path(f"/webhooks/{webhook_id}/deliveries"), headers=api.auth())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_signed_deliveries_for_a_session_reach_the_receiver(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver)
    created = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Fix the flaky test"}
    )
    session_id = created.json()["session_id"]
    archived = await api.client.post(api.org_path(f"/sessions/{session_id}/archive"), headers=api.auth())
    assert archived.status_code == 200
    deliverer = deliverer_for(api, Clock())
    try:
        await settle(deliverer)
    finally:
        await deliverer.stop()

    got = receiver.wait_for(lambda got: len(got) >= 3, timeout=5)
    assert receiver.rejected == []
    types = [r["body"]["type"] for r in got]
    assert sorted(types) == ["session.created", "session.message", "session.status_changed"]
    first = receiver.of_type("session.created")[0]
    assert first["data"]["session_id"] == session_id and first["data"]["status"] == "new"
    assert first["timestamp"].endswith("Z")
    message = receiver.of_type("session.message")[0]["data"]
    assert (message["source"], message["message"]) == ("user", "Fix the flaky test")
    changed = receiver.of_type("session.status_changed")[0]["data"]
    assert (changed["previous_status"], changed["status"], changed["is_archived"]) == (
        "new",
        archived.json()["status"],
        True,
    )
    ids = {r["headers"]["webhook-id"] for r in got}
    assert len(ids) == 3 and all(i.startswith("msg_") for i in ids)
    listed = await deliveries(api, made["webhook_id"])
    assert {(d["status"], d["attempts"], d["last_status_code"]) for d in listed} == {("succeeded", 1, 200)}
    assert {d["message_id"] for d in listed} == ids


async def test_event_types_filter_what_a_webhook_gets(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.status_changed"])
    created = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Tidy up"})
    await api.client.delete(api.org_path(f"/sessions/{created.json()['session_id']}"), headers=api.auth())
    deliverer = deliverer_for(api, Clock())
    try:
        await settle(deliverer)
    finally:
        await deliverer.stop()
    assert [d["event_type"] for d in await deliveries(api, made["webhook_id"])] == ["session.status_changed"]
    got = receiver.wait_for(lambda got: len(got) >= 1, timeout=5)
    assert got[0]["body"]["data"]["status_detail"] == "user_request"


async def test_a_500_and_a_timeout_are_retried_with_backoff(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    receiver.script = [500, "hang", 200]
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Retry me"})
    clock = Clock()
    deliverer = deliverer_for(api, clock, timeout=0.5)
    try:
        await settle(deliverer)
        [first] = await deliveries(api, made["webhook_id"])
        assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, 500)
        assert first["last_error"] == "HTTP 500"
        assert first["next_attempt_at"] >= int(clock.now) + 4

        await settle(deliverer)  # not due yet: nothing is sent
        assert receiver.attempts == 1

        clock.now += 6
        await settle(deliverer)
        [second] = await deliveries(api, made["webhook_id"])
        assert (second["status"], second["attempts"], second["last_error"]) == ("pending", 2, "timed out")
        assert second["last_status_code"] is None
        assert second["next_attempt_at"] >= int(clock.now) + 9  # the wait doubled

        clock.now += 12
        await settle(deliverer)
    finally:
        await deliverer.stop()
    [third] = await deliveries(api, made["webhook_id"])
    assert (third["status"], third["attempts"], third["last_status_code"]) == ("succeeded", 3, 200)
    got = receiver.wait_for(lambda got: len(got) == 1, timeout=5)
    assert got[0]["body"]["type"] == "session.created"
    assert receiver.attempts == 3


async def test_a_running_deliverer_retries_when_the_attempt_falls_due_not_at_its_poll(
    hooks_api: ApiEnv, receiver: WebhookReceiver
) -> None:
    """Started as the server starts it, with a poll of a minute: the new message wakes it at once (the commit in
    this process), and the retry after the 500 comes at its time (about 5 s later), not at the next poll."""
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    receiver.script = [500, 200]
    webhooks = Webhooks(api.db, api.services.vault, time.time, allow_private=True, retry_window=86400.0)
    deliverer = Deliverer(webhooks, Sender(timeout=1.0, allow_private=True), poll=60, listened_poll=60, timeout=1.0)
    await deliverer.start()
    try:
        await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Retry on time"})
        got = await asyncio.to_thread(receiver.wait_for, lambda got: len(got) == 1, timeout=30)
        deadline = time.monotonic() + 30
        while (item := (await deliveries(api, made["webhook_id"]))[0])["status"] != "succeeded":
            assert time.monotonic() < deadline, item  # the answer is recorded just after it arrives
            await asyncio.sleep(0.05)
    finally:
        await deliverer.stop()
    assert got[0]["body"]["type"] == "session.created"
    assert receiver.attempts == 2 and item["attempts"] == 2


async def test_a_delivery_claimed_by_a_deliverer_that_died_is_sent_once_its_lease_ends(
    hooks_api: ApiEnv, receiver: WebhookReceiver
) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Orphaned delivery"})
    clock = Clock()
    dead = deliverer_for(api, clock)
    [_] = await dead.webhooks.take(1, dead.lease, fan_out=500)  # claimed, then its process died before sending
    other = deliverer_for(api, clock)
    try:
        await settle(other)
        assert receiver.attempts == 0  # still leased to the dead one
        clock.now += dead.lease + 1
        await settle(other)
    finally:
        await other.stop()
        await dead.sender.close()
    got = receiver.wait_for(lambda got: len(got) == 1, timeout=5)
    assert got[0]["body"]["type"] == "session.created" and receiver.attempts == 1
    [item] = await deliveries(api, made["webhook_id"])
    assert item["status"] == "succeeded"


async def test_retries_go_on_for_the_whole_window_then_stop(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    receiver.script = [503] * 100
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Never answered"})
    clock = Clock()
    start = clock.now
    deliverer = deliverer_for(api, clock)
    try:
        while True:
            await settle(deliverer)
            [item] = await deliveries(api, made["webhook_id"])
            if item["status"] != "pending":
                break
            clock.now = max(clock.now, item["next_attempt_at"] + 1)
    finally:
        await deliverer.stop()
    assert item["status"] == "failed" and item["last_status_code"] == 503
    assert clock.now - start >= 86400  # retried for at least 24 hours
    assert 10 < item["attempts"] < 60  # with backoff, not a hammering


async def test_a_private_target_is_refused_at_delivery_time(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    """A webhook saved while private targets were allowed (or whose name now resolves to a private address) is
    checked again before each attempt, and never sent to."""
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Probe"})
    deliverer = deliverer_for(api, Clock(), allow_private=False)
    try:
        await settle(deliverer)
    finally:
        await deliverer.stop()
    [item] = await deliveries(api, made["webhook_id"])
    assert item["status"] == "pending" and item["last_status_code"] is None
    assert "CODEYARD_WEBHOOK_ALLOW_PRIVATE" in item["last_error"]
    assert receiver.attempts == 0


async def test_redirects_are_not_followed(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver, event_types=["session.created"])
    receiver.script = [307]
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Redirect"})
    deliverer = deliverer_for(api, Clock())
    try:
        await settle(deliverer)
    finally:
        await deliverer.stop()
    [item] = await deliveries(api, made["webhook_id"])
    assert (item["status"], item["last_status_code"], item["last_error"]) == ("pending", 307, "redirect not followed")
    assert receiver.attempts == 1


async def test_a_webhook_created_later_does_not_get_older_messages(
    hooks_api: ApiEnv, receiver: WebhookReceiver
) -> None:
    api = hooks_api
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Before the hook"})
    made = await hook(api, receiver)
    deliverer = deliverer_for(api, Clock())
    try:
        await settle(deliverer)
    finally:
        await deliverer.stop()
    assert await deliveries(api, made["webhook_id"]) == []


async def test_deleting_a_webhook_with_pending_deliveries(hooks_api: ApiEnv, receiver: WebhookReceiver) -> None:
    api = hooks_api
    made = await hook(api, receiver)
    receiver.script = [500] * 10
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Delete the hook"})
    deliverer = deliverer_for(api, Clock())
    try:
        await settle(deliverer)
        response = await api.client.delete(api.org_path(f"/webhooks/{made['webhook_id']}"), headers=api.auth())
        assert response.status_code == 200
        await settle(deliverer)
    finally:
        await deliverer.stop()
    assert receiver.attempts == 2  # session.created and session.message, once each, never again


async def test_webhook_services_reject_unknown_ids(hooks_api: ApiEnv) -> None:
    api = hooks_api
    for path in ("/webhooks/webhook-nope", "/webhooks/webhook-nope/deliveries"):
        response = await api.client.get(api.org_path(path), headers=api.auth())
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    made = await api.services.webhooks.create(None, api.org_id, WebhookSpec(url="http://127.0.0.1:9/"))
    response = await api.client.get(
        api.org_path(f"/webhooks/{made.webhook.id}/deliveries?after=bogus"), headers=api.auth()
    )
    assert response.status_code == 400


async def outbox_size(api: ApiEnv) -> int:
    async with api.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(WebhookMessage)) or 0)


async def test_the_outbox_does_not_grow_without_webhooks_and_old_deliveries_are_forgotten(
    hooks_api: ApiEnv, receiver: WebhookReceiver
) -> None:
    api = hooks_api
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Nobody listens"})
    assert await outbox_size(api) == 0  # an org without webhooks has nobody to write for
    clock = Clock()
    deliverer = deliverer_for(api, clock)
    try:
        other_org, other_key = await api.new_org()
        elsewhere = await api.client.post(
            api.org_path("/webhooks", other_org), headers=api.auth(other_key), json={"url": receiver.url}
        )
        assert elsewhere.status_code == 200, elsewhere.text  # another org's webhook changes nothing for this one
        await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Still nobody"})
        assert await outbox_size(api) == 0

        made = await hook(api, receiver)
        await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Somebody listens"})
        await settle(deliverer)
        assert len(await deliveries(api, made["webhook_id"])) == 2
        clock.now += 6 * 86400
        await settle(deliverer)
        assert len(await deliveries(api, made["webhook_id"])) == 2  # kept for a week
        clock.now += 2 * 86400
        await settle(deliverer)
    finally:
        await deliverer.stop()
    assert await deliveries(api, made["webhook_id"]) == []
    assert await outbox_size(api) == 0


async def test_a_target_that_drips_its_answer_times_out(hooks_api: ApiEnv) -> None:
    """Each byte within the read timeout, the whole answer far beyond it: the attempt still ends at the timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if stop.wait(0.2):
                    return
                conn.sendall(bytes([byte]))

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    api = hooks_api
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    made = await api.services.webhooks.create(None, api.org_id, WebhookSpec(url=url, event_types=["session.created"]))
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Drip"})
    deliverer = deliverer_for(api, Clock(), timeout=0.5)
    try:
        await settle(deliverer)
    finally:
        await deliverer.stop()
        stop.set()
        thread.join()
        listener.close()
    [item] = await deliveries(api, made.webhook.id)
    assert (item["status"], item["last_error"]) == ("pending", "timed out")
