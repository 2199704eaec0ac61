"""100 sessions at once on one server: all complete without error; wall time and peak memory.

    .venv/bin/python -m benchmarks.concurrency [--sessions 100] [--slots 100]

Each session runs a shell command in its sandbox, edits a file and finishes, against the zero-latency
scripted model. Peak memory is the largest resident set of the server and all its children (sandboxes,
git), sampled every 50 ms. Baseline in the same run: one session alone.
"""

import argparse
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import psutil

from benchmarks._runtime import machine, runtime_server
from tests.conftest import LiveServer, stop_server
from tests.fakes.model_server import FakeModelServer, Step


def tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_batch(server: LiveServer, count: int) -> tuple[float, dict[str, int]]:
    """Create ``count`` sessions at once and wait for all; returns the wall time and the final statuses."""
    headers = {"Authorization": f"Bearer {server.org_key}"}
    base = f"/v3/organizations/{server.org_id}/sessions"
    t0 = time.perf_counter()
    with httpx2.Client(base_url=server.url, headers=headers, timeout=60) as http:
        with ThreadPoolExecutor(16) as pool:
            ids = list(
                pool.map(lambda i: http.post(base, json={"prompt": f"BENCH {i}"}).json()["session_id"], range(count))
            )
        statuses: dict[str, int] = {}
        pending = set(ids)
        deadline = time.monotonic() + 600
        while pending and time.monotonic() < deadline:
            page = http.get(base, params={"first": 200}).json()["items"]
            for item in page:
                if item["session_id"] in pending and item["status"] in ("exit", "error", "suspended"):
                    pending.discard(item["session_id"])
                    key = f"{item['status']}/{item['status_detail']}"
                    statuses[key] = statuses.get(key, 0) + 1
            time.sleep(0.2)
        if pending:
            statuses["unfinished"] = len(pending)
    return time.perf_counter() - t0, statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--slots", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-conc-"))
    with FakeModelServer() as model:
        model.set_default_script(
            [
                Step.tool("run_command", {"command": "echo working; ls -la"}),
                Step.tool("write_file", {"path": "result.txt", "content": "ok\n"}),
                Step.text("done"),
            ]
        )
        server = runtime_server(tmp / "data", model, CODEYARD_MAX_CONCURRENT_SESSIONS=str(args.slots))
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, tree_rss(server.process.pid))
                time.sleep(0.05)

        try:
            idle = tree_rss(server.process.pid)
            single, single_status = run_batch(server, 1)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            wall, statuses = run_batch(server, args.sessions)
            stop.set()
            sampler.join()
        finally:
            stop_server(server)
    print(f"machine: {machine()}")
    print(f"one session alone (baseline): {single:.2f} s {single_status}")
    print(f"{args.sessions} sessions at once, {args.slots} runner slots: {wall:.2f} s, outcomes {statuses}")
    print(f"server memory: idle {idle / 2**20:.0f} MiB, peak with children {peak / 2**20:.0f} MiB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
