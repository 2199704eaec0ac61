"""How fast the CLI starts: `codeyard --help` and `codeyard sessions list` (against a server that answers at
once), beside `python -c "import typer, httpx2"` in the same run; medians over N interleaved runs.

    .venv/bin/python -m benchmarks.cli_startup [--runs 20]

Goal (issue 13): both within 1.5x of the baseline. Shown too: `python -c "import httpx2"` alone and a bare
script sending the request `sessions list` sends. The server for `sessions list` is a live `codeyard serve` with
an empty organization, so the command's own start-up, not the server, dominates. Byte code is written (and a
warm-up round runs first), as for an installed package.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._runtime import machine, median
from tests.conftest import REPO, start_server, stop_server

_BARE_LIST = (
    "import os, httpx2; e = os.environ; "
    "httpx2.get(f\"{e['DEVIN_API_URL']}/v3/organizations/{e['DEVIN_ORG_ID']}/sessions\", "
    "headers={'Authorization': f\"Bearer {e['DEVIN_API_KEY']}\"}).raise_for_status()"
)
"""What `sessions list` asks the server, sent by a bare script: the server's own share of the command's time."""


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the source tree the CLI runs from")
    args = parser.parse_args()
    server = start_server(Path(tempfile.mkdtemp(prefix="bench-cli-")) / "data", {"CODEYARD_RUNNER_ENABLED": "false"})
    env = {**os.environ, "PYTHONPATH": str(args.src), **server.env()}
    # As installed: byte code compiled once (pip does it at install time), not every module parsed at every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    commands = {
        "baseline: import typer, httpx2": [sys.executable, "-c", "import typer, httpx2"],
        "bare: import httpx2": [sys.executable, "-c", "import httpx2"],
        "bare: httpx2 GET of the same list": [sys.executable, "-c", _BARE_LIST],
        "codeyard --help": [sys.executable, "-m", "codeyard", "--help"],
        "codeyard sessions list": [sys.executable, "-m", "codeyard", "sessions", "list"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for argv in commands.values():  # warm-up: byte code written, files in the page cache
            timed(argv, env)
        for _ in range(args.runs):  # interleaved, so load on the machine touches every command alike
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    finally:
        stop_server(server)
    base = median(times["baseline: import typer, httpx2"])
    bare = median(times["bare: import httpx2"])
    print(f"{machine()}, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"runs: {args.runs} each, interleaved")
    for name, values in times.items():
        value = median(values)
        print(f"{name:34s} median {value * 1000:7.1f} ms   ratio {value / base:5.2f}x   vs bare {value / bare:5.2f}x")


if __name__ == "__main__":
    main()
