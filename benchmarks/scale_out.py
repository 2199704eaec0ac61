"""The distributed mode: sessions completed per minute with one and with two workers, and takeover after kill -9.

    CODEYARD_TEST_POSTGRES_URL=… .venv/bin/python -m benchmarks.scale_out [--rounds 12] [--concurrency 4] [--repeat 3]

One ``serve --no-runner`` API replica and ``codeyard worker --concurrency N`` processes on a fresh PostgreSQL
database, sessions run as procrastinate jobs. Each session makes three model calls with 300 ms of model latency each
(two shell commands, then a final answer). Each repetition runs a batch on one worker, then starts a second worker
and runs a batch on both, then stops the second one (SIGTERM). Each batch is ``--rounds`` sessions per slot (12
rounds: 48 sessions on one worker's 4 slots, 96 on two workers' 8), so both batches fill and drain their slots the
same number of times and the ramp and the tail weigh the same in both. The figure is sessions finished per minute,
from the first create to the last session's final status event; medians of the repetitions, with the load average
(the machine is shared). Beside it, the slots' use in the steady part of each batch (from the moment all slots are
busy to the last claim): how many sessions ran on average. Two rounds on the first worker before the runs warm the
processes up; they are not measured. Takeover: a session in the middle of a long command, its
worker killed with SIGKILL, with the default heartbeat settings; the time until the other worker took it over and
until it finished there."""

import argparse
import os
import shutil
import signal
import statistics
import tempfile
import time
from pathlib import Path

import httpx2

from benchmarks._runtime import machine, runtime_env
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


def distributed_env(model: FakeModelServer, url: str, blobs: Path) -> dict[str, str]:
    """The settings of the API replica and the workers: one PostgreSQL database, one blob directory."""
    return runtime_env(model, CODEYARD_DATABASE_URL=url, CODEYARD_SANDBOX_BACKEND="local", CODEYARD_BLOB_URL=str(blobs))


def run_batch(api: LiveServer, count: int, tag: str, url: str) -> float:
    """Sessions per minute for ``count`` sessions created at once, from the first create to the last finish.

    The last finish is the time of the last session's final status event (same machine, same clock), so the
    check for the end can be rare (every second) and costs the API replica little CPU."""
    headers = {"Authorization": f"Bearer {api.org_key}"}
    base = f"{api.url}/v3/organizations/sessions"
    start = time.time()
    with httpx2.Client(headers=headers, timeout=60) as http:
        for i in range(count):
            http.post(base, json={"prompt": f"BENCH-{tag}-{i} work", "tags": [tag]}).raise_for_status()
        while True:
            time.sleep(1.0)
            page = http.get(base, params={"tags": tag, "first": 200}).json()
            done = [s for s in page["items"] if s["status"] in ("exit", "error", "suspended")]
            assert all(s["status_detail"] == "finished" for s in done), done
            if len(done) == count:
                break
    rows = query(
        api.data_dir,
        "SELECT max(e.created_at) FROM events e JOIN sessions s ON s.id = e.session_id "
        "WHERE s.prompt LIKE :p AND e.event_type = 'status_changed'",
        url,
        p=f"BENCH-{tag}-%",
    )
    return count / ((float(rows[0][0]) - start) / 60)


def steady_use(data_dir: Path, url: str, tag: str) -> float:
    """How many of the batch's sessions ran at once on average, from the moment the most ran at once to the last
    claim (each session counted from its first status change, the claim, to its last, the finish)."""
    rows = query(
        data_dir,
        "SELECT e.session_id, min(e.created_at), max(e.created_at) FROM events e "
        "JOIN sessions s ON s.id = e.session_id "
        "WHERE s.prompt LIKE :p AND e.event_type = 'status_changed' GROUP BY e.session_id",
        url,
        p=f"BENCH-{tag}-%",
    )
    spans = [(float(begin), float(end)) for _, begin, end in rows]
    changes = sorted([(begin, 1) for begin, _ in spans] + [(end, -1) for _, end in spans])
    most = running = 0
    for _, step in changes:
        running += step
        most = max(most, running)
    last_claim = max(begin for begin, _ in spans)
    area, running, full_from, previous = 0.0, 0, None, 0.0
    for at, step in changes:
        if full_from is not None:
            area += running * (min(at, last_claim) - previous)
            previous = min(at, last_claim)
        running += step
        if full_from is None and running == most:
            full_from = previous = at
    return area / (last_claim - full_from) if full_from is not None and last_claim > full_from else float(most)


def stop_gracefully(worker: Worker) -> None:
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(timeout=120)


def takeover(
    api: LiveServer, workers: list[Worker], model: FakeModelServer, tmp: Path, url: str
) -> tuple[float, float]:
    """Seconds from the SIGKILL of the session's worker until the other took it over, and until it finished."""
    # the sandboxed command runs as the sandbox uid when the benchmark runs as root: a folder it can reach and write
    markers = Path(tempfile.mkdtemp(prefix="scale-out-markers-"))
    markers.chmod(0o777)
    marker = markers / "started"
    model.add_script(
        "BENCH-TAKEOVER",
        [
            Step.tool("run_command", {"command": f"test -e {marker} || {{ touch {marker}; sleep 600; }}"}),
            Step.text("done"),
        ],
    )
    headers = {"Authorization": f"Bearer {api.org_key}"}
    base = f"{api.url}/v3/organizations/sessions"
    sid = httpx2.post(base, json={"prompt": "BENCH-TAKEOVER"}, headers=headers, timeout=30).json()["session_id"]
    while not marker.exists():
        time.sleep(0.05)
    owner = str(query(tmp, "SELECT claimed_by FROM sessions WHERE id = :s", url, s=sid)[0][0])
    victim = next(w for w in workers if owner.split(":")[1] == str(w.process.pid))
    killed = time.monotonic()
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    taken = None
    while True:
        if taken is None:
            holder = query(tmp, "SELECT claimed_by FROM sessions WHERE id = :s", url, s=sid)[0][0]
            if holder is not None and holder != owner:
                taken = time.monotonic() - killed
        got = httpx2.get(f"{base}/{sid}", headers=headers, timeout=30).json()
        if got["status"] == "exit":
            break
        time.sleep(0.05)
    finished = time.monotonic() - killed
    return taken if taken is not None else finished, finished


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12, help="sessions per slot in each batch")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scale-out-"))
    url = fresh_postgres_url()
    model = FakeModelServer().start()
    model.set_default_script(script())
    env = distributed_env(model, url, tmp / "blobs")
    runs: list[tuple[float, float, float, float]] = []
    uses: list[tuple[float, float]] = []
    workers: list[Worker] = []
    api = start_server(tmp / "api", env, args=["--no-runner"])
    try:
        workers.append(start_worker(tmp / "w1", env, args.concurrency))
        run_batch(api, 2 * args.concurrency, "warm-up", url)  # first sessions of new processes: not measured
        for r in range(args.repeat):
            load_one = os.getloadavg()[0]
            one = run_batch(api, args.rounds * args.concurrency, f"one{r}", url)
            second = start_worker(tmp / f"w2-{r}", env, args.concurrency)
            workers.append(second)
            load_two = os.getloadavg()[0]
            two = run_batch(api, args.rounds * args.concurrency * 2, f"two{r}", url)
            uses.append((steady_use(tmp / "api", url, f"one{r}"), steady_use(tmp / "api", url, f"two{r}")))
            stop_gracefully(second)
            workers.remove(second)
            runs.append((one, two, load_one, load_two))
            print(
                f"run {r + 1}: 1 worker {one:.1f}/min (load {load_one:.1f}), 2 workers {two:.1f}/min "
                f"(load {load_two:.1f}): {two / one:.2f}x; in the steady part {uses[-1][0]:.2f} of "
                f"{args.concurrency} and {uses[-1][1]:.2f} of {2 * args.concurrency} slots busy",
                flush=True,
            )
        workers.append(start_worker(tmp / "w3", env, args.concurrency))
        taken, finished = takeover(api, workers, model, tmp, url)
    finally:
        for worker in workers:
            end(worker)
        stop_server(api)
        model.stop()
        drop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    one = statistics.median(r[0] for r in runs)
    two = statistics.median(r[1] for r in runs)
    ratio = statistics.median(r[1] / r[0] for r in runs)
    print(f"machine: {machine()}")
    print(
        f"{args.rounds} sessions per slot: batches of {args.rounds * args.concurrency} and "
        f"{args.rounds * args.concurrency * 2}, 3 model calls of {LATENCY * 1000:.0f} ms each, {args.repeat} runs"
    )
    print(f"--concurrency {args.concurrency} per worker")
    print(f"1 worker:  {one:.1f} sessions/min (median)")
    print(f"2 workers: {two:.1f} sessions/min (median), ratio {ratio:.2f}x (median of the runs' ratios)")
    print(
        f"load average during the batches: {min(min(r[2], r[3]) for r in runs):.1f}-"
        f"{max(max(r[2], r[3]) for r in runs):.1f}"
    )
    print(
        f"slots busy in the steady part (median): {statistics.median(u[0] for u in uses):.2f} of {args.concurrency} "
        f"with 1 worker, {statistics.median(u[1] for u in uses):.2f} of {2 * args.concurrency} with 2"
    )
    print(f"takeover after kill -9: taken over after {taken:.1f} s, finished after {finished:.1f} s")


if __name__ == "__main__":
    main()
