"""``codeyard serve`` start-up as a newcomer meets it: one line (no traceback) for a read-only data dir or a port in
use, the port bound before anything starts, and a server log that says what happens (sandbox backend, an access
line per request, one line per session lifecycle event) without Alembic's noise."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import REPO, SERVER_START_LIMIT_S, free_port, start_server, stop_server

pytestmark = pytest.mark.slow


def serve(data_dir: Path, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CODEYARD_", "DEVIN_"))}
    environ |= {"CODEYARD_SECRET_KEY": "k", "PYTHONPATH": str(REPO / "src"), **env}
    argv = [sys.executable, "-m", "codeyard", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    return subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=SERVER_START_LIMIT_S, check=False)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() == 0:  # root writes through permission bits: a read-only mount it is
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=False)
        if done.returncode != 0:
            pytest.skip("running as root without the right to mount a read-only tmpfs")
        yield path
        subprocess.run(["umount", "-l", str(path)], check=False)
    else:
        path.chmod(0o500)
        yield path
        path.chmod(0o700)


def test_a_read_only_data_dir_is_one_line_naming_it(read_only_dir: Path) -> None:
    for data_dir in (read_only_dir, read_only_dir / "sub"):
        result = serve(data_dir, free_port())
        assert result.returncode == 1
        [line] = lines(result.stderr)
        assert str(data_dir) in line and "--data-dir" in line and "CODEYARD_DATA_DIR" in line
        assert "Traceback" not in result.stderr + result.stdout


def test_a_port_in_use_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(tmp_path / "data", port)
    assert result.returncode == 1
    [line] = lines(result.stderr)
    assert f"port {port}" in line and "--port" in line
    # Bound before the database, the bootstrap, the runner and the ticker: none of them ran.
    assert not (tmp_path / "data" / "codeyard.db").exists()
    assert not (tmp_path / "data" / "bootstrap.json").exists()


def wait_for(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_the_server_log_tells_what_happens(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"CODEYARD_SCHEDULER_ENABLED": "false", "CODEYARD_LOG_FORMAT": "json"})
    try:
        auth = {"Authorization": f"Bearer {server.org_key}"}
        created = httpx2.post(
            f"{server.url}/v3/organizations/sessions", headers=auth, json={"prompt": "hello"}, timeout=10
        )
        session_id = created.json()["session_id"]
        wait_for(lambda: '"session failed"' in server.log())  # no model is configured
    finally:
        stop_server(server)
    log = server.log()
    assert '"runner started"' in log and '"sandbox": "' in log
    for event in ("session created", "session started", "session failed"):
        [line] = [line for line in log.splitlines() if f'"{event}"' in line]
        assert session_id in line
    assert '"path": "/v3/organizations/sessions"' in log and '"status": 200' in log
    assert "alembic" not in log.lower() and "Running upgrade" not in log


def test_the_access_log_can_be_switched_off(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data",
        {"CODEYARD_ACCESS_LOG": "false", "CODEYARD_RUNNER_ENABLED": "false", "CODEYARD_SCHEDULER_ENABLED": "false"},
    )
    try:
        assert httpx2.get(f"{server.url}/v3/self", headers={"Authorization": f"Bearer {server.org_key}"}).is_success
    finally:
        stop_server(server)
    assert "/v3/self" not in server.log()
