"""The distributed mode: sessions completed per minute with one and with two workers, and takeover after kill -9.

    CODEYARD_TEST_POSTGRES_URL=… .venv/bin/python -m benchmarks.scale_out [--sessions 16] [--concurrency 4]

One ``serve --no-runner`` API replica and ``codeyard worker --concurrency N`` processes on a fresh PostgreSQL
database. Each session makes three model calls with 300 ms of model latency each (two shell commands, then a
final answer). Phase 1 runs the batch on one worker, phase 2 a new batch on two; the figure is sessions
finished per minute. Takeover: a session in the middle of a long command, its worker killed with SIGKILL; the
time until the other worker has finished it (the lease is 20 s).
"""

import argparse
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx2

from benchmarks._runtime import machine
from tests.conftest import LiveServer, start_server, stop_server
from tests.databases import drop_all, fresh_postgres_url, query
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.test_distributed import Worker, end, start_worker

LATENCY = 0.3


def script() -> list[Step]:
    return [
        Step.delay(LATENCY),
        Step.tool("run_command", {"command": "echo one > one.txt"}),
        Step.delay(LATENCY),
        Step.tool("run_command", {"command": "cat one.txt"}),
        Step.delay(LATENCY),
        Step.text("done"),
    ]


def run_batch(api: LiveServer, count: int, tag: str) -> float:
    headers = {"Authorization": f"Bearer {api.org_key}"}
    start = time.monotonic()
    ids = []
    for i in range(count):
        body = {"prompt": f"BENCH-{tag}-{i} work"}
        ids.append(httpx2.post(f"{api.url}/v3/organizations/sessions", json=body, headers=headers, timeout=30).json())
    pending = {s["session_id"] for s in ids}
    while pending:
        for sid in list(pending):
            got = httpx2.get(f"{api.url}/v3/organizations/sessions/{sid}", headers=headers, timeout=30).json()
            if got["status"] in ("exit", "error", "suspended"):
                assert got["status_detail"] == "finished", got
                pending.discard(sid)
        time.sleep(0.2)
    return count / ((time.monotonic() - start) / 60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scale-out-"))
    url = fresh_postgres_url()
    model = FakeModelServer().start()
    model.set_default_script(script())
    env = {
        "CODEYARD_DATABASE_URL": url,
        "CODEYARD_MODEL": "openai:scripted",
        "CODEYARD_MODEL_BASE_URL": model.base_url,
        "CODEYARD_MODEL_API_KEY": "bench",
        "CODEYARD_SCHEDULER_ENABLED": "false",
        "CODEYARD_RATE_LIMIT": "1000000/minute",
        "CODEYARD_LOG_FORMAT": "json",
        "CODEYARD_SANDBOX_BACKEND": "local",
        "CODEYARD_BLOB_URL": str(tmp / "blobs"),
    }
    workers: list[Worker] = []
    api = start_server(tmp / "api", env, args=["--no-runner"])
    try:
        workers.append(start_worker(tmp / "w1", env, args.concurrency))
        one = run_batch(api, args.sessions, "one")
        workers.append(start_worker(tmp / "w2", env, args.concurrency))
        two = run_batch(api, args.sessions, "two")

        marker = tmp / "started"
        model.add_script(
            "BENCH-TAKEOVER",
            [
                Step.tool("run_command", {"command": f"test -e {marker} || {{ touch {marker}; sleep 600; }}"}),
                Step.text("done"),
            ],
        )
        headers = {"Authorization": f"Bearer {api.org_key}"}
        sid = httpx2.post(
            f"{api.url}/v3/organizations/sessions", json={"prompt": "BENCH-TAKEOVER"}, headers=headers, timeout=30
        ).json()["session_id"]
        while not marker.exists():
            time.sleep(0.05)
        owner = str(query(tmp, "SELECT claimed_by FROM sessions WHERE id = :s", url, s=sid)[0][0])
        victim = next(w for w in workers if owner.split(":")[1] == str(w.process.pid))
        killed = time.monotonic()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        while True:
            got = httpx2.get(f"{api.url}/v3/organizations/sessions/{sid}", headers=headers, timeout=30).json()
            if got["status"] == "exit":
                break
            time.sleep(0.1)
        takeover = time.monotonic() - killed
    finally:
        for worker in workers:
            end(worker)
        stop_server(api)
        model.stop()
        drop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {machine()}")
    print(f"{args.sessions} sessions per batch, 3 model calls of {LATENCY * 1000:.0f} ms each")
    print(f"--concurrency {args.concurrency} per worker")
    print(f"1 worker:  {one:.1f} sessions/min")
    print(f"2 workers: {two:.1f} sessions/min ({two / one:.2f}x)")
    print(f"takeover after kill -9: {takeover:.1f} s until the session finished on the other worker")


if __name__ == "__main__":
    main()
