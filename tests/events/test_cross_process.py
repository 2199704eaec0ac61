"""Events across processes (contract §9): on PostgreSQL the LISTEN connection and its reconnection, the event
feed's order when a later pk commits first, and two real ``serve`` processes on one database where the second
streams, and delivers webhooks for, what the first writes while their polls are set to a minute (so only NOTIFY
can bring them in time); the same stream on one SQLite file, brought by the ``data_version`` look."""

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest

from codeyard.cli.server import prepare
from codeyard.services.container import Services
from codeyard.services.feed import EventFeed, Subscription
from codeyard.services.principal import Principal, Role
from codeyard.services.sessions import NewSession
from codeyard.storage.notify import EVENTS, Listener, conninfo
from tests.conftest import make_settings, start_server, stop_server
from tests.databases import ON_POSTGRES
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.postgres
WAIT = 30.0
"""Seconds a test waits for something that takes milliseconds (the machine may be loaded): well below the
minute-long polls, so what arrives in time was brought by NOTIFY."""


async def _until(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT:g} s"
        await asyncio.sleep(0.02)


async def test_the_listener_calls_on_notify_and_reconnects_after_its_backend_is_terminated(postgres_url: str) -> None:
    listener = Listener(postgres_url, max_backoff=0.5)
    calls: list[float] = []
    unsubscribe = listener.subscribe(EVENTS, lambda: calls.append(time.monotonic()))
    try:
        await _until(lambda: listener.is_connected and calls, "the first connection")
        first = listener.backend_pid
        assert first is not None
        async with await psycopg.AsyncConnection.connect(conninfo(postgres_url), autocommit=True) as other:
            before = len(calls)
            await other.execute("NOTIFY codeyard_events")
            await _until(lambda: len(calls) > before, "a call after NOTIFY")

            await other.execute("SELECT pg_terminate_backend(%s)", (first,))
            await _until(lambda: listener.connections == 2 and listener.is_connected, "the reconnection")
            second = listener.backend_pid
            assert second not in (None, first)

            before = len(calls)
            await other.execute("NOTIFY codeyard_events")
            await _until(lambda: len(calls) > before, "a call after NOTIFY on the new connection")
    finally:
        unsubscribe()
        await listener.close()
    assert listener.backend_pid is None and not listener.is_connected
    async with await psycopg.AsyncConnection.connect(conninfo(postgres_url), autocommit=True) as other:
        for _ in range(int(WAIT / 0.05)):
            cur = await other.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (second,))
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("a closed listener leaves no connection behind")


@pytest.fixture
async def session(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Services, str, str]]:
    settings = make_settings(tmp_path / "data", database_url=postgres_url)
    db, services = await prepare(settings)
    org = (await services.identity.list_orgs())[0].id
    user = (await services.identity.list_service_users(org))[0]
    principal = Principal(user.id, user.name, org, Role.ORG_ADMIN, "key")
    row = await services.sessions.create(principal, org, NewSession(prompt="watch me"))
    yield services, org, row.id
    await db.dispose()


INSERT = (
    "INSERT INTO events (id, session_id, event_type, category, direction, summary, details, created_at) "
    "VALUES (%s, %s, 'user_message', 'message', 'incoming', %s, '{}', 0) RETURNING pk"
)


async def _insert(conn: psycopg.AsyncConnection[tuple[object, ...]], session_id: str, name: str) -> int:
    cur = await conn.execute(INSERT, (f"event-{name}", session_id, name))
    row = await cur.fetchone()
    assert row is not None
    return int(str(row[0]))


async def _collect(subscription: Subscription, count: int) -> list[int]:
    got: list[int] = []
    async with asyncio.timeout(WAIT):
        while len(got) < count:
            got += [row.pk for row in await subscription.next_batch()]
    return got


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_an_event_that_becomes_visible_after_a_later_one_is_not_lost(
    session: tuple[Services, str, str], postgres_url: str, outcome: str
) -> None:
    """Transaction A takes pk n and stays open; B takes n+1 and commits; the feed reads n+1 first. The old feed
    moved its cursor past n and never offered A's event; now n+1 waits until A commits (then both come, in pk
    order) or rolls back (then n+1 comes alone)."""
    services, org, session_id = session
    feed = EventFeed(services.db, poll_interval=0.05, listen_poll_interval=0.05, gap_grace=0.2)
    dsn = conninfo(postgres_url)
    try:
        async with (
            feed.subscribe(org) as subscription,
            await psycopg.AsyncConnection.connect(dsn) as a,
            await psycopg.AsyncConnection.connect(dsn, autocommit=True) as b,
        ):
            pk_a = await _insert(a, session_id, "a")
            pk_b = await _insert(b, session_id, "b")
            assert pk_b > pk_a
            reads = feed.reads
            await _until(lambda: feed.reads >= reads + 2, "two reads of the feed after B committed")
            assert feed.gaps == 1 and feed.settled == pk_a - 1, "B waits behind A's open insert"
            if outcome == "commit":
                await a.commit()
                assert await _collect(subscription, 2) == [pk_a, pk_b]
            else:
                await a.rollback()
                assert await _collect(subscription, 1) == [pk_b]
            assert feed.gaps == 0 and feed.settled == pk_b
    finally:
        await feed.close()


async def test_a_starting_feed_waits_for_an_insert_in_flight_below_the_newest(
    session: tuple[Services, str, str], postgres_url: str
) -> None:
    """The same gap when the feed starts between the two commits: it began at the newest pk before, and lost A."""
    services, org, session_id = session
    feed = EventFeed(services.db, poll_interval=0.05, listen_poll_interval=0.05)
    dsn = conninfo(postgres_url)
    try:
        async with (
            await psycopg.AsyncConnection.connect(dsn) as a,
            await psycopg.AsyncConnection.connect(dsn, autocommit=True) as b,
        ):
            pk_a = await _insert(a, session_id, "a")
            pk_b = await _insert(b, session_id, "b")
            async with feed.subscribe(org) as subscription:
                await a.commit()
                assert await _collect(subscription, 2) == [pk_a, pk_b]
    finally:
        await feed.close()


def _follow(url: str, key: str, path: str, wanted: str, ready: threading.Event, got: list[dict[str, Any]]) -> None:
    """Read the org stream; ``ready`` once it is subscribed and its replay is done (its opening message and then a
    heartbeat came); stop at the event whose message is ``wanted``."""
    with (
        httpx2.Client(base_url=url, timeout=WAIT) as http,
        http.stream("GET", path, headers={"Authorization": f"Bearer {key}"}) as response,
    ):
        assert response.status_code == 200
        opened = False
        deadline = time.monotonic() + 2 * WAIT
        for line in response.iter_lines():
            if time.monotonic() > deadline:
                return
            if line.startswith("id:"):
                opened = True
            elif line.startswith(":") and opened:
                ready.set()
            elif line.startswith("data:"):
                event: dict[str, Any] = json.loads(line[5:])
                if event["details"].get("message") == wanted:
                    got.append(event)
                    return


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_a_second_serve_streams_and_delivers_what_the_first_writes(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    """On PostgreSQL through NOTIFY (stream and webhook); on one SQLite file through ``PRAGMA data_version`` (the
    stream; the deliverer there keeps its poll)."""
    on_postgres = database == "postgres"
    if on_postgres:
        url = request.getfixturevalue("postgres_url")
    elif ON_POSTGRES:
        pytest.skip("SQLite only: two processes on one database file")
    env = {
        **({"CODEYARD_DATABASE_URL": url} if on_postgres else {}),
        "CODEYARD_RUNNER_ENABLED": "false",
        "CODEYARD_SCHEDULER_ENABLED": "false",
        "CODEYARD_STREAM_POLL_INTERVAL": "60",
        "CODEYARD_STREAM_FALLBACK_POLL_INTERVAL": "60",
        "CODEYARD_STREAM_HEARTBEAT": "0.3",
        "CODEYARD_WEBHOOK_POLL_INTERVAL": "60" if on_postgres else "0.1",
        "CODEYARD_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    data = tmp_path / "data"
    writer = start_server(data, env | {"CODEYARD_WEBHOOKS_ENABLED": "false"})
    reader = start_server(data, env)
    wanted = "written by the first"
    try:
        base = f"/v3/organizations/{writer.org_id}"
        headers = {"Authorization": f"Bearer {writer.org_key}"}
        with WebhookReceiver() as receiver, httpx2.Client(base_url=writer.url, headers=headers, timeout=WAIT) as http:
            made = http.post(f"{base}/webhooks", json={"url": receiver.url, "event_types": ["session.message"]})
            assert made.status_code == 200, made.text
            receiver.secret = made.json()["secret"]
            created = http.post(f"{base}/sessions", json={"prompt": "first"})
            assert created.status_code == 200, created.text
            session_id = created.json()["session_id"]

            ready, got = threading.Event(), []  # type: threading.Event, list[dict[str, Any]]
            follower = threading.Thread(
                target=_follow, args=(reader.url, reader.org_key, f"{base}/stream", wanted, ready, got)
            )
            follower.start()
            assert ready.wait(WAIT), "the second process's stream opened"
            sent = http.post(f"{base}/sessions/{session_id}/messages", json={"message": wanted})
            assert sent.status_code == 200, sent.text
            follower.join(2 * WAIT)
            assert got and got[0]["event_type"] == "user_message", "the second process streamed the first one's event"
            receiver.wait_for(
                lambda received: any(r["body"]["data"].get("message") == wanted for r in received), timeout=WAIT
            )
    finally:
        stop_server(reader)
        stop_server(writer)
