"""Fixtures for end-to-end session runs: the scripted model server, a runtime server, a git repo."""

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codeyard.sdk import Client
from codeyard.sdk.types import SessionResponse as Session
from tests.conftest import LiveServer, start_server, stop_server
from tests.fakes.model_server import FakeModelServer

TERMINAL = {"exit", "error", "suspended"}


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


def runtime_env(model: FakeModelServer, **extra: str) -> dict[str, str]:
    env = {
        "CODEYARD_MODEL": "openai:scripted",
        "CODEYARD_MODEL_BASE_URL": model.base_url,
        "CODEYARD_MODEL_API_KEY": "test-model-key",
        "CODEYARD_MODEL_MAX_RETRIES": "3",
        "CODEYARD_SCHEDULER_ENABLED": "false",
        "CODEYARD_COMMAND_TIMEOUT": "120",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, model_server: FakeModelServer) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("runtime") / "data", runtime_env(model_server))
    yield server
    stop_server(server)


@pytest.fixture
def client(runtime: LiveServer) -> Iterator[Client]:
    with Client(base_url=runtime.url, api_key=runtime.org_key, org_id=runtime.org_id) as c:
        yield c


def wait_for(client: Client, session_id: str, done: Callable[[Session], bool], timeout: float = 60) -> Session:
    """Poll like a client would, until ``done`` holds; fail with the last state otherwise."""
    deadline = time.monotonic() + timeout
    session = client.sessions.get(session_id)
    while not done(session):
        if time.monotonic() > deadline:
            raise AssertionError(f"session stuck at {session.status}/{session.status_detail}: {session}")
        time.sleep(0.1)
        session = client.sessions.get(session_id)
    return session


def settled(session: Session) -> bool:
    return session.status in TERMINAL or session.status_detail == "waiting_for_user"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def calc_repo(tmp_path: Path) -> Path:
    """A small repository with a bug and a test that shows it."""
    repo = tmp_path / "calc"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (repo / "test_calc.py").write_text(
        "from calc import add\n\nassert add(2, 3) == 5, f'add(2, 3) gave {add(2, 3)}'\nprint('all tests passed')\n"
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-qm", "calc")
    return repo
