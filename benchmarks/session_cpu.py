"""CPU time per session in the distributed mode, process by process: where a worker's share of the machine goes.

    CODEYARD_TEST_POSTGRES_URL=… .venv/bin/python -m benchmarks.session_cpu [--sessions 48] [--concurrency 4]

The set-up of ``benchmarks/scale_out.py`` with one worker: one ``serve --no-runner`` replica, one ``codeyard worker``,
the scripted model (three calls of 300 ms, two shell commands). After a warm-up batch, it reads every process's CPU
time from ``/proc`` (user and system, its own and its reaped children's, so a worker's sandboxed commands count as
its children), runs one batch, reads them again and prints the difference per session. The model and the client
run in this process. Run it beside ``scale_out`` when a change is meant to make a session cheaper: the ratio of two
workers to one is bounded by how much of the machine one worker's sessions take."""

import argparse
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks._runtime import machine
from benchmarks.scale_out import distributed_env, run_batch, script
from tests.conftest import start_server, stop_server
from tests.databases import drop_all, fresh_postgres_url
from tests.fakes.model_server import FakeModelServer
from tests.runtime.test_distributed import end, start_worker


def cpu_by_process() -> dict[tuple[int, str], float]:
    """CPU seconds of every process: ``(pid, "name own")`` and ``(pid, "name children")``."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[tuple[int, str], float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        name = _name([a.decode(errors="replace") for a in argv if a])
        found[int(entry), f"{name} own"] = (int(fields[11]) + int(fields[12])) / tick
        found[int(entry), f"{name} children"] = (int(fields[13]) + int(fields[14])) / tick
    return found


def _name(argv: list[str]) -> str:
    if not argv:
        return "other (no command line)"
    if "codeyard" in argv[1:3] or (len(argv) > 3 and argv[1:3] == ["-m", "codeyard"]):
        return "codeyard " + next((a for a in argv if a in ("serve", "worker")), "?")
    if argv[0].startswith("postgres"):
        return "postgres"
    return os.path.basename(argv[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="session-cpu-"))
    url = fresh_postgres_url()
    model = FakeModelServer().start()
    model.set_default_script(script())
    env = distributed_env(model, url, tmp / "blobs")
    api = start_server(tmp / "api", env, args=["--no-runner"])
    worker = start_worker(tmp / "w1", env, args.concurrency)
    try:
        run_batch(api, 2 * args.concurrency, "warm-up", url)
        before, own_before, started = cpu_by_process(), time.process_time(), time.monotonic()
        rate = run_batch(api, args.sessions, "measured", url)
        wall = time.monotonic() - started
        after, own = cpu_by_process(), time.process_time() - own_before
    finally:
        end(worker)
        stop_server(api)
        model.stop()
        drop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    spent: dict[str, float] = defaultdict(float)
    for key, seconds in after.items():
        if key[0] != os.getpid():
            spent[key[1]] += max(0.0, seconds - before.get(key, 0.0))
    spent["this process (client and scripted model)"] = own
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{args.sessions} sessions on one worker (--concurrency {args.concurrency}): {rate:.1f}/min, {wall:.1f} s")
    total = 0.0
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        if seconds >= 0.01:
            print(f"  {seconds * 1000 / args.sessions:7.1f} ms per session  {name}")
            total += seconds
    print(f"  {total * 1000 / args.sessions:7.1f} ms per session  in all")


if __name__ == "__main__":
    main()
