"""Fixtures shared by every test tier: clean environment, settings on a temp data dir, the API in-process,
and a real ``codeyard serve`` subprocess on loopback."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from codeyard.api.app import create_app
from codeyard.cli.server import prepare
from codeyard.config import Settings
from codeyard.services.container import Services
from codeyard.services.principal import Role
from codeyard.storage.db import Database, migrate
from tests import databases

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """On PostgreSQL, stop at once, with the reason, when no server answers: here, in the main process before any
    xdist worker starts (a worker stopping the run from a fixture is an xdist internal error, not a message)."""
    if databases.ON_POSTGRES and (problem := databases.postgres_problem()):
        pytest.exit(f"CODEYARD_TEST_DATABASE=postgres, but {problem}", returncode=3)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that have a test marked ``slow`` run first. On parallel workers (``--dist loadfile``, one file per
    worker at a time, handed out in this order) the longest files then start early instead of making the tail
    of the run. A stable sort: every file stays in one piece and in its order."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's codeyard, Devin or model settings."""
    for name in list(os.environ):
        if name.startswith(("CODEYARD_", "DEVIN_")) or name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            monkeypatch.delenv(name)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "runner_enabled": False,
        "scheduler_enabled": False,
        "secret_key": "test-secret-key",
    }
    if databases.ON_POSTGRES:
        values["database_url"] = databases.database_url_for(data_dir)
        values["allow_local_repos"] = True  # as on SQLite, where the tests' local git repos are allowed
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session", autouse=True)
def _postgres_databases() -> Iterator[None]:
    """On PostgreSQL, fail at once when the server is missing, and drop the run's databases at the end."""
    if databases.ON_POSTGRES and (problem := databases.postgres_problem()):
        pytest.exit(f"CODEYARD_TEST_DATABASE=postgres, but {problem}", returncode=3)
    yield
    databases.drop_all()


@pytest.fixture
def postgres_url() -> str:
    """A fresh migrated PostgreSQL database for a test that needs PostgreSQL whatever the suite runs on."""
    if problem := databases.postgres_problem():
        pytest.skip(problem)
    return databases.fresh_postgres_url()


@dataclass
class ApiEnv:
    """The API served in-process over ``httpx2.ASGITransport``, with the bootstrap keys and a key factory."""

    settings: Settings
    services: Services
    db: Database
    client: httpx2.AsyncClient
    org_id: str
    org_key: str
    enterprise_key: str
    _keys: dict[tuple[Role, str | None], str] = field(default_factory=dict)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.org_key}"}

    def org_path(self, suffix: str, org_id: str | None = None) -> str:
        return f"/v3/organizations/{org_id or self.org_id}{suffix}"

    async def key(self, role: Role, org_id: str | None = None) -> str:
        """An API key of a new service user with ``role`` in ``org_id`` (the default org unless enterprise)."""
        org = None if role == Role.ENTERPRISE_ADMIN else (org_id or self.org_id)
        cached = self._keys.get((role, org))
        if cached:
            return cached
        user = await self.services.identity.create_service_user(f"{role.value}-user", role, org)
        issued = await self.services.identity.issue_key(user.id)
        self._keys[(role, org)] = issued.token
        return issued.token

    async def new_org(self, name: str = "other") -> tuple[str, str]:
        """A second organization and an org-admin key for it."""
        org = await self.services.identity.create_org(name)
        return org.id, await self.key(Role.ORG_ADMIN, org.id)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated once per test run; each ``api`` test starts from a copy (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "codeyard.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def api(tmp_path: Path, migrated_template: Path) -> AsyncIterator[ApiEnv]:
    settings = make_settings(tmp_path / "data", public_url="http://testserver")
    settings.data_dir.mkdir(parents=True)
    if settings.is_sqlite:
        shutil.copyfile(migrated_template, settings.data_dir / "codeyard.db")
    db, services = await prepare(settings)
    app = create_app(settings, services)
    boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield ApiEnv(settings, services, db, client, boot["org_id"], boot["org_api_key"], boot["enterprise_api_key"])
    await db.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER_START_LIMIT_S = 240
"""How long ``start_server`` waits for ``/healthz``. It returns as soon as the server answers (a second or two on
an idle machine); the limit only bounds a broken start. Generous, because on two shared cores with parallel
workers an import-and-migrate start was seen to take 40 s."""
HEALTHZ_TIMEOUT_S = 15
"""One ``/healthz`` request's timeout: the first answer of a just-started server on a loaded machine took 2.6 s,
and with a 1 s timeout such a server never counted as started."""


@dataclass
class LiveServer:
    """A real ``codeyard serve`` process on loopback."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    bootstrap: dict[str, Any]
    log_path: Path

    @property
    def org_id(self) -> str:
        return str(self.bootstrap["org_id"])

    @property
    def org_key(self) -> str:
        return str(self.bootstrap["org_api_key"])

    @property
    def enterprise_key(self) -> str:
        return str(self.bootstrap["enterprise_api_key"])

    def env(self, key: str | None = None) -> dict[str, str]:
        """Client environment for the SDK, the CLI and handoff."""
        return {"DEVIN_API_URL": self.url, "DEVIN_API_KEY": key or self.org_key, "DEVIN_ORG_ID": self.org_id}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    data_dir: Path, env_overrides: dict[str, str] | None = None, port: int | None = None, args: Sequence[str] = ()
) -> LiveServer:
    """Start ``python -m codeyard serve [args]`` and wait until it answers ``/healthz``.

    Without ``port``, a free one is picked; if another process (a parallel test worker) takes it before the
    server binds it, the server says so and exits at once, and it is started again on another free port."""
    if port is not None:
        return _start_server(data_dir, env_overrides, port, args)
    for attempt in range(4):
        try:
            return _start_server(data_dir, env_overrides, free_port(), args)
        except PortTaken:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    """The port chosen for ``codeyard serve`` was taken by another process before the server bound it."""


def _start_server(data_dir: Path, env_overrides: dict[str, str] | None, port: int, args: Sequence[str]) -> LiveServer:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEYARD_", "DEVIN_"))}
    env |= {
        "CODEYARD_DATA_DIR": str(data_dir),
        "CODEYARD_PORT": str(port),
        "CODEYARD_HOST": "127.0.0.1",
        "CODEYARD_SECRET_KEY": "live-test-secret",
        "PYTHONPATH": str(REPO / "src"),
    }
    if url := databases.database_url_for(data_dir):
        env |= {"CODEYARD_DATABASE_URL": url, "CODEYARD_ALLOW_LOCAL_REPOS": "true"}
    env |= env_overrides or {}
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"serve-{port}.log"
    out = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [sys.executable, "-m", "codeyard", "serve", *args],
        env=env,
        stdout=out,
        stderr=out,
        stdin=subprocess.DEVNULL,
        cwd=data_dir,
    )
    out.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if f"port {port} on 127.0.0.1 is already in use" in log_path.read_text(errors="replace"):
                raise PortTaken(f"codeyard serve found port {port} taken:\n{log_path.read_text()}")
            raise RuntimeError(f"codeyard serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx2.get(f"{url}/healthz", timeout=HEALTHZ_TIMEOUT_S).status_code == 200:
                break
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"codeyard serve did not start:\n{log_path.read_text()}")
    boot = json.loads((data_dir / "bootstrap.json").read_text())
    return LiveServer(url, data_dir, process, boot, log_path)


def stop_server(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live") / "data")
    yield server
    stop_server(server)
