"""A deleted organization runs nothing any more: its running session stops (its command is killed), its queued
session never starts, and its schedules are gone, on a real server with the scripted model."""

import secrets
import time
from collections.abc import Iterator

import httpx2
import psutil
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.databases import query
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import runtime_env

SLEEP = f"427.{secrets.randbelow(10**6):06d}"
"""The long command's ``sleep`` argument, unique to this run: the host's process table is searched for it,
and parallel test runs (other workers, other checkouts) must not find each other's."""

pytestmark = pytest.mark.slow


@pytest.fixture
def one_slot(tmp_path_factory: pytest.TempPathFactory, model_server: FakeModelServer) -> Iterator[LiveServer]:
    env = runtime_env(model_server, CODEYARD_MAX_CONCURRENT_SESSIONS="1", CODEYARD_SCHEDULER_ENABLED="true")
    server = start_server(tmp_path_factory.mktemp("deleted-org") / "data", env)
    yield server
    stop_server(server)


def sleepers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if (p.info.get("cmdline") or [])[:2] == ["sleep", SLEEP]]


def until(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_a_deleted_org_stops_its_sessions_and_schedules(one_slot: LiveServer, model_server: FakeModelServer) -> None:
    model_server.add_script(
        "TASK-ORG-GONE", [Step.tool("run_command", {"command": f"sleep {SLEEP} & sleep {SLEEP}; wait"})]
    )
    org = httpx2.Client(
        base_url=f"{one_slot.url}/v3/organizations", headers={"Authorization": f"Bearer {one_slot.org_key}"}
    )
    with org:
        running = org.post("/sessions", json={"prompt": "TASK-ORG-GONE: wait"}).json()["session_id"]
        until(lambda: bool(sleepers()))
        queued = org.post("/sessions", json={"prompt": "queued behind the first"}).json()
        assert queued["status"] == "new"
        schedule = org.post("/schedules", json={"prompt": "every minute", "frequency": "* * * * *"})
        assert schedule.status_code == 200

    deleted = httpx2.delete(
        f"{one_slot.url}/v3/enterprise/organizations/{one_slot.org_id}",
        headers={"Authorization": f"Bearer {one_slot.enterprise_key}"},
    )
    assert deleted.status_code == 200
    until(lambda: not sleepers(), timeout=15)

    data = one_slot.data_dir
    rows = dict(query(data, "SELECT id, status || '/' || status_detail FROM sessions"))
    assert rows == {running: "exit/user_request", queued["session_id"]: "exit/user_request"}
    [(claimed_by,)] = query(data, "SELECT claimed_by FROM sessions WHERE id = :id", id=queued["session_id"])
    assert claimed_by is None
    assert query(data, "SELECT count(*) FROM schedules WHERE deleted_at IS NULL OR enabled") == [(0,)]
    time.sleep(2)  # a runner slot is free now: the queued session must still never start
    assert queued["session_id"] not in [line for line in one_slot.log().splitlines() if "session started" in line]
