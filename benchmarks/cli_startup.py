"""How fast the CLI starts: `codeyard --help` and `codeyard sessions list` (against a server that answers at
once), beside `python -c "import typer, httpx2"` in the same run; medians over N interleaved runs.

    .venv/bin/python -m benchmarks.cli_startup [--runs 20]

Goal (issue 13): both within 1.5x of the baseline. The server for `sessions list` is a live `codeyard serve`
with an empty organization, so the command's own start-up, not the server, dominates.
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


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    server = start_server(Path(tempfile.mkdtemp(prefix="bench-cli-")) / "data", {"CODEYARD_RUNNER_ENABLED": "false"})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **server.env()}
    commands = {
        "baseline: import typer, httpx2": [sys.executable, "-c", "import typer, httpx2"],
        "codeyard --help": [sys.executable, "-m", "codeyard", "--help"],
        "codeyard sessions list": [sys.executable, "-m", "codeyard", "sessions", "list"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for _ in range(args.runs):  # interleaved, so load on the machine touches every command alike
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    finally:
        stop_server(server)
    base = median(times["baseline: import typer, httpx2"])
    print(machine())
    print(f"runs: {args.runs} each, interleaved")
    for name, values in times.items():
        print(f"{name:34s} median {median(values) * 1000:7.1f} ms   ratio {median(values) / base:5.2f}x")


if __name__ == "__main__":
    main()
