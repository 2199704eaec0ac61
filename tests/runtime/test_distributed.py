"""The distributed mode with real processes on one PostgreSQL database: two ``serve --no-runner`` API replicas
and two ``codeyard worker`` processes. A worker killed with SIGKILL in the middle of a command: the session
finishes on the other worker, every message stored before the kill present once. An API replica killed: the
other answers. The workspace is restored from its last checkpoint in the blob store, and the agent told so.
SIGTERM: a worker gives its session back at once and exits 0."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from codeyard.sdk import Client
from tests.conftest import REPO, LiveServer, free_port, start_server, stop_server
from tests.databases import query
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import runtime_env, settled, wait_for
from tests.s3_server import running_s3_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(data_dir: Path, env: dict[str, str], concurrency: int = 2) -> Worker:
    data_dir.mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("CODEYARD_", "DEVIN_"))}
    full |= {"CODEYARD_DATA_DIR": str(data_dir), "CODEYARD_SECRET_KEY": "live-test-secret"}
    full |= {"PYTHONPATH": str(REPO / "src")} | env
    log_path = data_dir / "worker.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "codeyard", "worker", "--concurrency", str(concurrency)],
            env=full,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    worker = Worker(process, log_path)
    deadline = time.monotonic() + 60
    while "worker started" not in worker.log():
        assert process.poll() is None, worker.log()
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.1)
    return worker


def end(worker: Worker) -> None:
    if worker.process.poll() is None:
        worker.process.kill()
        worker.process.wait()


@dataclass
class Deployment:
    api: list[LiveServer]
    workers: list[Worker]
    model: FakeModelServer
    data_dir: Path
    database_url: str


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str) -> Iterator[Deployment]:
    model = FakeModelServer().start()
    s3_context = running_s3_server(free_port(), tmp_path)
    s3 = s3_context.__enter__()
    s3.create_bucket("codeyard")
    # a plain-subprocess sandbox: the scripted commands use marker files in the test's temp dir
    env = runtime_env(
        model, CODEYARD_DATABASE_URL=postgres_url, CODEYARD_SANDBOX_BACKEND="local", CODEYARD_CHECKPOINT_INTERVAL="1"
    )
    env |= s3.env("codeyard")  # the blob store every process shares: attachments and workspace checkpoints
    api_dir = tmp_path / "api"
    replicas: list[LiveServer] = []
    workers: list[Worker] = []
    try:
        replicas.append(start_server(api_dir, env, args=["--no-runner"]))
        replicas.append(start_server(api_dir, env, args=["--no-runner"]))  # the bootstrap is done: same keys
        workers.append(start_worker(tmp_path / "w1", env))
        workers.append(start_worker(tmp_path / "w2", env))
        yield Deployment(replicas, workers, model, api_dir, postgres_url)
    finally:
        for worker in workers:
            end(worker)
        for replica in replicas:
            stop_server(replica)
        model.stop()
        s3_context.__exit__(None, None, None)


@pytest.fixture
def markers() -> Iterator[Path]:
    """A folder the scripted commands can write to: they run as the sandbox uid when the tests run as root,
    and the test's temp dir is closed to it."""
    folder = Path(tempfile.mkdtemp(prefix="codeyard-markers-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def holder(dep: Deployment, session_id: str) -> Worker | None:
    rows = query(dep.data_dir, "SELECT claimed_by FROM sessions WHERE id = :s", dep.database_url, s=session_id)
    owner = rows[0][0] if rows else None
    for worker in dep.workers:
        if owner and owner.split(":")[1] == str(worker.process.pid):
            return worker
    return None


def test_a_killed_worker_s_session_finishes_on_the_other(deployment: Deployment, tmp_path: Path, markers: Path) -> None:
    dep = deployment
    marker = markers / "started"
    dep.model.add_script(
        "TASK-TAKEOVER",
        [
            Step.tool("run_command", {"command": "echo one > one.txt"}),
            # the first run sleeps until its worker is killed; a repeat (after the takeover) returns at once
            Step.tool("run_command", {"command": f"test -e {marker} || {{ touch {marker}; sleep 600; }}"}),
            Step.text("all done"),
        ],
    )
    first, second = dep.api
    with Client(base_url=first.url, api_key=first.org_key, org_id=first.org_id) as client:
        session = client.sessions.create(prompt="TASK-TAKEOVER go")
        sid = session.session_id
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert time.monotonic() < deadline, [w.log() for w in dep.workers]
            time.sleep(0.1)
        victim = holder(dep, sid)
        assert victim is not None
        time.sleep(3)  # the workspace checkpoint timer (1 s here) saves one.txt
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()

    # the replica that created it is killed too: the other answers
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    with Client(base_url=second.url, api_key=second.org_key, org_id=second.org_id) as client:
        done = wait_for(client, sid, settled, timeout=240)
        survivor = next(w for w in dep.workers if w is not victim)
        assert (done.status, done.status_detail) == ("exit", "finished"), survivor.log()
        messages = client.sessions.messages(sid)
        texts = [m.message for m in messages.items]
        assert texts.count("TASK-TAKEOVER go") == 1
        assert texts.count("all done") == 1
        events = [e.event_type for e in client.sessions.events(sid).items]
        assert "runner_lost" in events
    # the survivor rebuilt the workspace from the checkpoint, and the agent was told
    survivor_dir = tmp_path / ("w2" if victim is dep.workers[0] else "w1")
    restored = survivor_dir / "workspaces" / sid / "one.txt"
    assert restored.exists(), survivor.log()
    assert restored.read_text() == "one\n"
    sent = [json.dumps(r.body) for r in dep.model.requests if "TASK-TAKEOVER" in json.dumps(r.body)]
    assert any("the machine was replaced; the workspace is as of step" in body for body in sent)


def test_sigterm_gives_the_session_back_and_exits_cleanly(deployment: Deployment, markers: Path) -> None:
    dep = deployment
    marker = markers / "slow"
    dep.model.add_script("TASK-TERM", [Step.tool("run_command", {"command": f"touch {marker} && sleep 600"})])
    api = dep.api[0]
    with Client(base_url=api.url, api_key=api.org_key, org_id=api.org_id) as client:
        sid = client.sessions.create(prompt="TASK-TERM go").session_id
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        worker = holder(dep, sid)
        assert worker is not None
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=60) == 0, worker.log()
        assert "giving its sessions back" in worker.log()
        client.sessions.terminate(sid)
    response = httpx2.get(f"{api.url}/readyz", timeout=10)
    assert response.status_code == 200 and response.json()["checks"]["database"] == "ok"
