"""Push latency of the live streams against polling (run by hand, not by pytest).

    .venv/bin/python -m benchmarks.push_latency [--events 500] [--clients 200] [--poll 5]
        [--postgres | --database-url postgresql+psycopg://…/an_empty_database]

Starts ``codeyard serve`` on a fresh SQLite data dir (runner and scheduler off, a rate limit no run reaches) and a
second ``serve`` process on the same database file; with ``--postgres`` (a fresh database on the tests' server,
``CODEYARD_TEST_POSTGRES_URL``, dropped afterwards) or ``--database-url`` both processes use that PostgreSQL
database instead, and the second learns of the first one's events through LISTEN/NOTIFY.

One SSE client follows the org stream of each process, and one
client polls ``GET …/events`` every ``--poll`` seconds (today's way to follow a session). The benchmark then writes
``--events`` messages to a session, one every 20 ms (``POST …/messages``: each stores a ``user_message`` event), and
measures for each message the time from sending the request to the event's arrival at each client. Finally
``--clients`` SSE clients follow one process at once while 50 more messages are written; every client must get
every event, with no error. Loopback only. Prints markdown tables.
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import httpx2

from benchmarks._runtime import machine, pct
from tests import databases
from tests.conftest import LiveServer, start_server, stop_server
from tests.fakes.webhook_receiver import WebhookReceiver

GAP = 0.02
"""Seconds between two written messages."""
ENV = {
    "CODEYARD_RUNNER_ENABLED": "false",
    "CODEYARD_SCHEDULER_ENABLED": "false",
    "CODEYARD_RATE_LIMIT": "100000000/minute",
    "CODEYARD_LOG_FORMAT": "json",
    "CODEYARD_WEBHOOK_ALLOW_PRIVATE": "true",  # the webhook receiver is on loopback
}


async def follow(
    http: httpx2.AsyncClient, server: LiveServer, seen: dict[str, float], ready: asyncio.Event, errors: list[str]
) -> None:
    """Follow the org stream, noting when each message marker arrives."""
    headers = {"Authorization": f"Bearer {server.org_key}"}
    try:
        async with http.stream("GET", f"{server.url}/v3/organizations/{server.org_id}/stream", headers=headers) as r:
            if r.status_code != 200:
                errors.append(f"status {r.status_code}")
                return
            async for line in r.aiter_lines():
                if line.startswith("id:"):
                    ready.set()  # the opening message: subscribed
                elif line.startswith("data:"):
                    event = json.loads(line[5:])
                    message = event["details"].get("message")
                    if event["event_type"] == "user_message" and message and message not in seen:
                        seen[message] = time.perf_counter()
    except httpx2.HTTPError as exc:
        errors.append(type(exc).__name__)


async def poll(
    http: httpx2.AsyncClient,
    server: LiveServer,
    session_id: str,
    every: float,
    seen: dict[str, float],
    stop: asyncio.Event,
) -> None:
    headers = {"Authorization": f"Bearer {server.org_key}"}
    url = f"{server.url}/v3/organizations/{server.org_id}/sessions/{session_id}/events"
    cursor: str | None = None
    while True:
        while True:
            params = {"first": "200", **({"after": cursor} if cursor else {})}
            page = (await http.get(url, headers=headers, params=params)).json()
            now = time.perf_counter()
            for event in page["items"]:
                seen.setdefault(event["details"].get("message") or "", now)
            cursor = page["end_cursor"] or cursor
            if not page["has_next_page"]:
                break
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


async def write(
    http: httpx2.AsyncClient, server: LiveServer, session_id: str, prefix: str, count: int
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {server.org_key}"}
    url = f"{server.url}/v3/organizations/{server.org_id}/sessions/{session_id}/messages"
    sent: dict[str, float] = {}
    for i in range(count):
        marker = f"{prefix}-{i}"
        sent[marker] = time.perf_counter()
        response = await http.post(url, headers=headers, json={"message": marker})
        response.raise_for_status()
        await asyncio.sleep(GAP)
    return sent


def latencies(sent: dict[str, float], seen: dict[str, float]) -> list[float]:
    return [seen[m] - t for m, t in sent.items() if m in seen]


async def latency_run(
    main: LiveServer,
    other: LiveServer,
    session_id: str,
    events: int,
    every: float,
    receiver: WebhookReceiver,
    database: str,
) -> list[tuple[str, list[float], int]]:
    limits = httpx2.Limits(max_connections=20)
    async with httpx2.AsyncClient(timeout=60, limits=limits) as http:
        same, cross, polled = {}, {}, {}  # type: dict[str, float], dict[str, float], dict[str, float]
        ready_same, ready_cross, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        errors: list[str] = []
        tasks = [
            asyncio.create_task(follow(http, main, same, ready_same, errors)),
            asyncio.create_task(follow(http, other, cross, ready_cross, errors)),
        ]
        await asyncio.wait_for(ready_same.wait(), 30)
        await asyncio.wait_for(ready_cross.wait(), 30)
        poller = asyncio.create_task(poll(http, main, session_id, every, polled, stop))
        sent = await write(http, main, session_id, "m", events)
        deadline = time.monotonic() + every + 5
        hooked: dict[str, float] = {}
        while time.monotonic() < deadline and not all(m in same and m in cross and m in hooked for m in sent):
            await asyncio.sleep(0.1)
            hooked = {r["body"]["data"]["message"]: r["perf"] for r in list(receiver.received)}
        stop.set()
        await asyncio.sleep(every + 1)  # one last poll
        await poller
        for task in tasks:
            task.cancel()
        assert not errors, errors
        return [
            ("SSE, same process", latencies(sent, same), len(sent)),
            (f"SSE, second process on the same {database}", latencies(sent, cross), len(sent)),
            ("webhook, signed and verified (either process delivers)", latencies(sent, hooked), len(sent)),
            (f"polling GET …/events every {every:g} s", latencies(sent, polled), len(sent)),
        ]


async def fan_out(
    server: LiveServer, session_id: str, clients: int, events: int
) -> tuple[int, int, list[float], list[str]]:
    limits = httpx2.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx2.AsyncClient(timeout=120, limits=limits) as http:
        seen: list[dict[str, float]] = [{} for _ in range(clients)]
        ready = [asyncio.Event() for _ in range(clients)]
        errors: list[str] = []
        tasks = [asyncio.create_task(follow(http, server, seen[i], ready[i], errors)) for i in range(clients)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 120)
        sent = await write(http, server, session_id, "fan", events)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(len(s) >= events for s in seen):
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        delivered = sum(len(s) for s in seen)
        all_latencies = [lat for s in seen for lat in latencies(sent, s)]
        return clients * events, delivered, all_latencies, errors


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.2f} s"


async def run(args: argparse.Namespace) -> None:
    url = args.database_url or (databases.fresh_postgres_url() if args.postgres else None)
    env = ENV | ({"CODEYARD_DATABASE_URL": url} if url else {})
    database = "PostgreSQL database" if url else "SQLite file"
    try:
        await measure(args, env, database)
    finally:
        if args.postgres:
            databases.drop_all()


async def measure(args: argparse.Namespace, env: dict[str, str], database: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as receiver:
        data = Path(tmp) / "data"
        main = start_server(data, env)
        other = start_server(data, env)
        try:
            headers = {"Authorization": f"Bearer {main.org_key}"}
            created = httpx2.post(
                f"{main.url}/v3/organizations/{main.org_id}/sessions", headers=headers, json={"prompt": "bench"}
            )
            session_id = created.json()["session_id"]
            hook = httpx2.post(
                f"{main.url}/v3/organizations/{main.org_id}/webhooks",
                headers=headers,
                json={"url": receiver.url, "event_types": ["session.message"]},
            )
            receiver.secret = hook.json()["secret"]
            rows = await latency_run(main, other, session_id, args.events, args.poll, receiver, database)
            fan = await fan_out(main, session_id, args.clients, 50)
        finally:
            stop_server(other)
            stop_server(main)
    print(f"Machine: {machine()}; database: {database}; load average at the end: {os.getloadavg()}\n")
    print("| client | events received | p50 | p99 |\n| --- | --- | --- | --- |")
    for name, values, sent in rows:
        print(f"| {name} | {len(values)}/{sent} | {ms(pct(values, 0.5))} | {ms(pct(values, 0.99))} |")
    expected, delivered, values, errors = fan
    print(
        f"\n{args.clients} concurrent SSE clients, 50 events each: {delivered}/{expected} deliveries, "
        f"{len(errors)} errors, p50 {ms(pct(values, 0.5))}, p99 {ms(pct(values, 0.99))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--postgres", action="store_true", help="both processes on a fresh PostgreSQL database")
    parser.add_argument("--database-url", help="both processes on this (empty) PostgreSQL database")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
