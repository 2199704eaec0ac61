"""POST /sessions → the agent's first command running, with a local repo to clone; p50/p95 over 50 sessions.

    .venv/bin/python -m benchmarks.session_start [--sessions 50]

The first command writes bash's $EPOCHREALTIME into the workspace; the host reads it, so the measure is
the real moment the command started inside the sandbox. Baseline in the same run: the same clone with git
and the same command in a bare bwrap, without the server.
"""

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx2

from benchmarks._runtime import machine, make_repo, median, pct, runtime_server
from tests.conftest import stop_server
from tests.fakes.model_server import FakeModelServer, Step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-start-"))
    repo = make_repo(tmp / "repo")
    with FakeModelServer() as model:
        model.set_default_script(
            [Step.tool("run_command", {"command": "echo $EPOCHREALTIME > started"}), Step.text("done")]
        )
        server = runtime_server(tmp / "data", model, CODEYARD_MAX_CONCURRENT_SESSIONS="4")
        latencies: list[float] = []
        try:
            with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.org_key}"}) as http:
                for i in range(args.sessions):
                    t0 = time.time()
                    r = http.post(
                        f"/v3/organizations/{server.org_id}/sessions",
                        json={"prompt": f"bench {i}", "repos": [str(repo)]},
                    )
                    r.raise_for_status()
                    marker = server.data_dir / "workspaces" / r.json()["session_id"] / "started"
                    deadline = time.monotonic() + 30
                    while not (marker.exists() and marker.read_text().strip()):
                        if time.monotonic() > deadline:
                            raise SystemExit(f"session {i} never ran its command:\n{server.log()[-2000:]}")
                        time.sleep(0.002)
                    latencies.append(float(marker.read_text().strip()) - t0)
        finally:
            stop_server(server)
    baseline = []
    bwrap = shutil.which("bwrap")
    for i in range(10):
        t0 = time.time()
        target = tmp / f"clone{i}"
        subprocess.run(["git", "clone", "-q", str(repo), str(target)], check=True)
        if bwrap:
            subprocess.run(
                [
                    bwrap,
                    "--ro-bind",
                    "/usr",
                    "/usr",
                    "--symlink",
                    "usr/bin",
                    "/bin",
                    "--symlink",
                    "usr/lib",
                    "/lib",
                    "--symlink",
                    "usr/lib64",
                    "/lib64",
                    "--bind",
                    str(target),
                    "/w",
                    "--chdir",
                    "/w",
                    "--unshare-all",
                    "--die-with-parent",
                    "/bin/bash",
                    "-c",
                    "echo $EPOCHREALTIME > started",
                ],
                check=True,
            )
        baseline.append(time.time() - t0)
    ms = [x * 1000 for x in latencies]
    print(f"machine: {machine()}")
    print(f"sessions: {len(ms)}  p50 {median(ms):.1f} ms  p95 {pct(ms, 0.95):.1f} ms  max {max(ms):.1f} ms")
    print(f"baseline (git clone + bare bwrap command, no server): p50 {median(baseline) * 1000:.1f} ms")
    print(f"ratio p50 / baseline p50: {median(ms) / (median(baseline) * 1000):.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
