"""Fixtures for the sandbox tests: real bubblewrap, real subprocesses, real process tables."""

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from codeyard.sandbox import Sandbox, create_sandbox
from codeyard.sandbox.bwrap import bwrap_problem
from codeyard.sandbox.cgroup import CgroupTree

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="what a server running as root gives its commands")
"""Tests of what a server running as root gives its commands (CI runs as root)."""

_POLL_LIMIT_S = 5.0
_POLL_PAUSE_S = 0.02


@pytest.fixture
def root_only_file() -> Iterator[Path]:
    """A root-owned 0600 file under /etc, as the host has (keys, credentials)."""
    path = Path("/etc") / f"codeyard-probe-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"root-only-secret")
    os.close(fd)
    yield path
    path.unlink()


@pytest.fixture
def bwrap() -> None:
    """Skips the test where bubblewrap cannot start."""
    problem = bwrap_problem()
    if problem is not None:
        pytest.skip(f"bubblewrap cannot start here: {problem}")


@pytest.fixture
def process_limit() -> None:
    """Skips the test where no process limit can hold."""
    if os.geteuid() == 0 and CgroupTree.find() is None:
        pytest.skip("running as root without a writable pids cgroup: RLIMIT_NPROC does not bind uid 0")


@pytest.fixture(params=["bwrap", "local"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "bwrap":
        request.getfixturevalue("bwrap")
    return name


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def make_sandbox(workspace: Path, backend: str) -> Callable[..., Sandbox]:
    """Builds a sandbox of the test's backend around the test's workspace."""

    def make(**options: Any) -> Sandbox:
        return create_sandbox(workspace, backend=options.pop("backend", backend), **options)

    return make


class SleepMarker:
    """A ``sleep`` argument unique to one test, so its processes can be found in the host's process table."""

    def __init__(self) -> None:
        self.argument = f"987.{secrets.randbelow(10**6):06d}"
        self.command = f"sleep {self.argument}"

    def processes(self) -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            if process.info["cmdline"] == ["sleep", self.argument]:
                found.append(process)
        return found

    async def wait_running(self, count: int) -> None:
        deadline = time.monotonic() + _POLL_LIMIT_S
        while len(self.processes()) < count:
            assert time.monotonic() < deadline, f"{count} of {self.command!r} never started"
            await asyncio.sleep(_POLL_PAUSE_S)

    def survivors(self) -> list[psutil.Process]:
        """The marker's processes still alive after a bounded wait (a killed process can take a moment to
        leave the process table; one that was not killed stays for 987 s)."""
        deadline = time.monotonic() + _POLL_LIMIT_S
        alive = self.processes()
        while alive and time.monotonic() < deadline:
            time.sleep(_POLL_PAUSE_S)
            alive = [process for process in alive if process.is_running() and process.status() != "zombie"]
        return alive


@pytest.fixture
def sleeper() -> Iterator[SleepMarker]:
    marker = SleepMarker()
    yield marker
    for process in marker.processes():
        process.kill()
