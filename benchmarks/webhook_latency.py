"""Webhook push latency: a message written → the signed delivery received (run by hand, not by pytest).

    .venv/bin/python -m benchmarks.webhook_latency [--events 500] [--rate 20]

Starts ``codeyard serve`` (runner and scheduler off, private webhook targets allowed) and a loopback receiver that
verifies every delivery with the ``standardwebhooks`` library, subscribes it to ``session.message``, then writes
``--events`` user messages into one session at ``--rate`` per second. Latency is the receipt time minus the
message's ``timestamp`` in the delivery (the server's clock when the row was written, same machine). Beside it, in
the same run, a client polling ``GET …/messages`` every 5 s (what the session page did before) measures how late it
sees the same messages (from the moment the POST that wrote each one returned). Prints a markdown table.
"""

import argparse
import datetime
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import httpx2

from benchmarks._runtime import machine, pct
from tests.conftest import start_server, stop_server
from tests.fakes.webhook_receiver import WebhookReceiver

POLL_SECONDS = 5.0


def parse_iso(value: str) -> float:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


def breakdown(db: Path) -> dict[str, list[float]]:
    """Where the time went, from the server's own records: written → fanned out → answered and recorded."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT m.created_at, d.created_at, d.last_attempt_at FROM webhook_deliveries d "
            "JOIN webhook_outbox m ON m.id = d.message_id WHERE d.status = 'succeeded'"
        ).fetchall()
    return {
        "written → fanned out and claimed": [fanned - written for written, fanned, _ in rows],
        "claimed → answered and recorded": [done - fanned for _, fanned, done in rows],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver(path="/hook") as receiver:
        server = start_server(
            Path(tmp) / "data",
            {
                "CODEYARD_RUNNER_ENABLED": "false",
                "CODEYARD_SCHEDULER_ENABLED": "false",
                "CODEYARD_WEBHOOK_ALLOW_PRIVATE": "true",
                "CODEYARD_RATE_LIMIT": "1000000/minute",
                "CODEYARD_LOG_FORMAT": "json",
            },
        )
        try:
            headers = {"Authorization": f"Bearer {server.org_key}"}
            with httpx2.Client(base_url=f"{server.url}/v3/organizations", headers=headers, timeout=30) as http:
                made = http.post("/webhooks", json={"url": receiver.url, "event_types": ["session.message"]}).json()
                receiver.secret = made["secret"]
                session_id = http.post("/sessions", json={"prompt": "benchmark"}).json()["session_id"]
                receiver.wait_for(lambda got: len(got) >= 1)  # the prompt's own delivery: the pipe is warm
                written: dict[str, float] = {}
                seen_by_poll: dict[str, float] = {}
                stop = threading.Event()

                def poll() -> None:
                    with httpx2.Client(base_url=http.base_url, headers=headers, timeout=30) as poller:
                        while not stop.is_set():
                            after = None
                            while True:
                                query = "?first=200" + (f"&after={after}" if after else "")
                                page = poller.get(f"/sessions/{session_id}/messages{query}").json()
                                now = time.time()
                                for item in page["items"]:
                                    seen_by_poll.setdefault(item["message"], now)
                                if not page["has_next_page"]:
                                    break
                                after = page["end_cursor"]
                            stop.wait(POLL_SECONDS)

                poller = threading.Thread(target=poll, daemon=True)
                poller.start()
                interval = 1.0 / args.rate
                start = time.perf_counter()
                for i in range(args.events):
                    text = f"event-{i}"
                    http.post(f"/sessions/{session_id}/messages", json={"message": text}).raise_for_status()
                    written[text] = time.time()
                    delay = start + (i + 1) * interval - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                got = receiver.wait_for(lambda got: len(got) >= args.events + 1, timeout=120)
                deadline = time.time() + POLL_SECONDS * 2 + 1
                while len([t for t in written if t in seen_by_poll]) < len(written) and time.time() < deadline:
                    time.sleep(0.1)
                stop.set()
        finally:
            stop_server(server)
        stages = breakdown(Path(tmp) / "data" / "codeyard.db")

    hooks = [
        r["at"] - parse_iso(r["body"]["timestamp"]) for r in got if r["body"]["data"]["message"].startswith("event-")
    ]
    polled = [seen_by_poll[t] - written[t] for t in written if t in seen_by_poll]
    print(
        f"machine: {machine()}; {args.events} events at {args.rate:g}/s; rejected signatures: {len(receiver.rejected)}"
    )
    print("| path | events | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [("webhook (signed, verified)", hooks), *stages.items(), (f"polling every {POLL_SECONDS:g} s", polled)]
    for name, values in rows:
        print(
            f"| {name} | {len(values)} | {pct(values, 0.5) * 1000:.1f} | {pct(values, 0.99) * 1000:.1f} "
            f"| {max(values) * 1000:.1f} |"
        )


if __name__ == "__main__":
    main()
