"""API read throughput and latency against a bare Starlette endpoint (run by hand, not by pytest).

    .venv/bin/python -m benchmarks.api_reads [--seconds 8] [--requests 4000] [--baseline-src OTHER/src]
        [--database-url postgresql+psycopg://codeyard:codeyard@127.0.0.1:5432/codeyard]

Starts ``codeyard serve`` (runner and scheduler off, access log off, a rate limit no run can reach) and a bare
Starlette JSON endpoint under uvicorn configured the same way (one worker, same host, httptools and uvloop, no access
log), creates a session with some messages,
then measures GET session, GET messages and the bare endpoint at 1, 16 and 64 concurrent clients. Each cell
stops after ``--requests`` requests or ``--seconds`` seconds, whichever comes first; loopback only. Prints a
markdown table whose ratios compare each codeyard read with the bare endpoint at the same concurrency.

``--database-url`` also starts a ``codeyard serve`` on PostgreSQL, measured in the same run beside the one on
SQLite: a fresh database is created on that server for the run (the URL's role must be allowed to create
databases; the URL's own database is only connected to) and dropped afterwards.
"""

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import psycopg
from sqlalchemy.engine import make_url

from benchmarks._runtime import machine, pct
from tests.conftest import LiveServer, free_port, start_server, stop_server

CONCURRENCY = (1, 16, 64)
MESSAGES = 20
#: What the bare endpoint answers: about the size of a ``SessionResponse``.
SAMPLE = {
    "session_id": "devin-76d1afdeaadc4fa796872adca009def2",
    "url": "http://127.0.0.1:8000/sessions/76d1afdeaadc4fa796872adca009def2",
    "status": "running",
    "status_detail": "working",
    "title": "Fix the auth timeout bug",
    "tags": ["handoff"],
    "org_id": "org-abc123",
    "service_user_id": "service-user-abc123",
    "child_session_ids": [],
    "is_archived": False,
    "origin": "api",
    "created_at": 1767225600,
    "updated_at": 1767225660,
    "acus_consumed": 0.0,
    "pull_requests": [],
    "structured_output": None,
}


def serve_bare(port: int) -> None:
    """The reference: a Starlette JSON endpoint under uvicorn with the settings ``codeyard serve`` uses."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(_: Request) -> JSONResponse:
        return JSONResponse(SAMPLE)

    app = Starlette(routes=[Route("/bare", endpoint)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_config=None,
        lifespan="on",
        proxy_headers=False,
    )


def start_bare() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.api_reads", "--bare-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{url}/bare", timeout=1).status_code == 200:
                return process, url
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the bare server did not start")


@dataclass(frozen=True)
class Cell:
    target: str
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


async def measure(
    target: str, url: str, headers: dict[str, str], concurrency: int, max_requests: int, max_seconds: float
) -> Cell:
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        for _ in range(min(50, max_requests)):  # warm the connections and the server's caches
            (await client.get(url)).raise_for_status()
        latencies: list[float] = []
        issued = 0
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            nonlocal issued
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - t0)
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Cell(target, concurrency, len(latencies), time.perf_counter() - started, latencies)


def prepare_session(url: str, key: str) -> str:
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        session = http.post("/v3/organizations/sessions", json={"prompt": "Benchmark the reads"}).json()
        for i in range(MESSAGES - 1):
            sent = http.post(f"/v3/organizations/sessions/{session['session_id']}/messages", json={"message": f"m{i}"})
            sent.raise_for_status()
        return str(session["session_id"])


def table(cells: list[Cell]) -> str:
    bare = {c.concurrency: c.throughput for c in cells if c.target == "bare endpoint"}
    lines = [
        "| target | clients | requests | req/s | p50 ms | p99 ms | vs bare |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cells:
        lines.append(
            f"| {c.target} | {c.concurrency} | {c.requests} | {c.throughput:,.0f} | {pct(c.latencies, 0.5) * 1000:.2f} "
            f"| {pct(c.latencies, 0.99) * 1000:.2f} | {c.throughput / bare[c.concurrency]:.0%} |"
        )
    return "\n".join(lines)


SERVER_ENV = {
    "CODEYARD_RUNNER_ENABLED": "false",
    "CODEYARD_SCHEDULER_ENABLED": "false",
    "CODEYARD_RATE_LIMIT": "100000000/minute",
    "CODEYARD_LOG_FORMAT": "json",
    "CODEYARD_ACCESS_LOG": "false",
}


def read_targets(server: LiveServer, label: str) -> list[tuple[str, str, dict[str, str]]]:
    session_id = prepare_session(server.url, server.org_key)
    auth = {"Authorization": f"Bearer {server.org_key}"}
    base = f"{server.url}/v3/organizations/{server.org_id}/sessions/{session_id}"
    return [(f"GET session{label}", base, auth), (f"GET messages ({MESSAGES}){label}", f"{base}/messages", auth)]


@contextlib.contextmanager
def fresh_postgres(url: str | None) -> Iterator[str | None]:
    """A new, empty database on the server of ``url`` for this run (its URL), dropped afterwards."""
    if url is None:
        yield None
        return
    parsed = make_url(url)
    name = f"codeyard_bench_{secrets.token_hex(4)}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as postgres_url:
        servers = [(start_server(Path(tmp) / "data", SERVER_ENV), "")]
        if postgres_url is not None:  # the same server on PostgreSQL, beside the one on SQLite
            env = {**SERVER_ENV, "CODEYARD_DATABASE_URL": postgres_url}
            servers.append((start_server(Path(tmp) / "postgres", env), " (PostgreSQL)"))
        if args.baseline_src:  # another source tree (e.g. the previous commit) measured in the same run
            env = {**SERVER_ENV, "PYTHONPATH": str(Path(args.baseline_src).resolve())}
            servers.append((start_server(Path(tmp) / "baseline", env), " (baseline)"))
        bare, bare_url = start_bare()
        try:
            targets: list[tuple[str, str, dict[str, str]]] = [("bare endpoint", f"{bare_url}/bare", {})]
            for server, label in servers:
                targets += read_targets(server, label)
            cells = [
                await measure(name, url, headers, n, args.requests, args.seconds)
                for n in CONCURRENCY
                for name, url, headers in targets
            ]
        finally:
            for server, _ in servers:
                stop_server(server)
            bare.terminate()
            bare.wait(timeout=15)
    cells.sort(key=lambda c: ([t for t, _, _ in targets].index(c.target), c.concurrency))
    print(f"machine: {machine()}")
    print(f"limits per cell: {args.requests} requests or {args.seconds:g} s\n")
    print(table(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="longest a cell runs")
    parser.add_argument("--requests", type=int, default=4000, help="most requests a cell sends")
    parser.add_argument("--baseline-src", help="a src/ directory of another version to measure in the same run")
    parser.add_argument(
        "--database-url",
        help="also measure codeyard on this PostgreSQL server (postgresql+psycopg://…), in a database made for the run",
    )
    parser.add_argument("--bare-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_port:
        serve_bare(args.bare_port)
        return
    os.environ.pop("CODEYARD_DATA_DIR", None)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
