"""The distributed mode with real processes on one PostgreSQL database: two ``serve --no-runner`` API replicas
and two ``codeyard worker`` processes running sessions as procrastinate jobs.

- A worker killed with SIGKILL in the middle of a command: its heartbeat stops, the other worker retries its job
  and takes the session over, restoring the workspace from its last checkpoint and telling the agent; every
  message stored before the kill is present once. An API replica killed: the other answers.
- SIGTERM in the middle of a command: the command finishes and is recorded, the worker checkpoints, gives the
  session back and exits 0; the other worker continues it.
- A DELETE reaches the worker through LISTEN/NOTIFY (procrastinate's job abort): the fallback polls are set to a
  minute here, so only the notification can stop the command in time.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from codeyard.sdk import Client
from tests import databases
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
    env: dict[str, str]
    root: Path

    def two_workers(self) -> None:
        """Replace the workers an earlier test stopped, so each test starts with two."""
        for i, worker in enumerate(self.workers):
            if worker.process.poll() is not None:
                self.workers[i] = start_worker(self.root / f"w{len(list(self.root.glob('w*'))) + 1}", self.env)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for the module (starting four processes is the slow part); each test scripts its own task."""
    if problem := databases.postgres_problem():
        pytest.skip(problem)
    postgres_url = databases.fresh_postgres_url()
    tmp_path = tmp_path_factory.mktemp("distributed")
    model = FakeModelServer().start()
    s3_context = running_s3_server(free_port(), tmp_path)
    s3 = s3_context.__enter__()
    s3.create_bucket("codeyard")
    # a plain-subprocess sandbox: the scripted commands use marker files in the test's temp dir
    env = runtime_env(
        model,
        CODEYARD_DATABASE_URL=postgres_url,
        CODEYARD_SANDBOX_BACKEND="local",
        CODEYARD_CHECKPOINT_INTERVAL="1",
        # dead workers are noticed by their heartbeat (fast here); the fallback polls are slow, so every stop and
        # every new job must arrive through LISTEN/NOTIFY
        CODEYARD_WORKER_HEARTBEAT_INTERVAL="1",
        CODEYARD_WORKER_STALLED_AFTER="5",
        CODEYARD_WORKER_POLL_INTERVAL="60",
        CODEYARD_WORKER_DRAIN_TIMEOUT="600",  # only a second signal ends a long step early
    )
    env |= s3.env("codeyard")  # the blob store every process shares: attachments and workspace checkpoints
    api_dir = tmp_path / "api"
    dep = Deployment([], [], model, api_dir, postgres_url, env, tmp_path)
    try:
        dep.api.append(start_server(api_dir, env, args=["--no-runner"]))
        dep.api.append(start_server(api_dir, env, args=["--no-runner"]))  # the bootstrap is done: same keys
        dep.workers.append(start_worker(tmp_path / "w1", env))
        dep.workers.append(start_worker(tmp_path / "w2", env))
        yield dep
    finally:
        for worker in dep.workers:
            end(worker)
        for replica in dep.api:
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


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_sigterm_lets_the_command_finish_then_the_other_worker_continues(deployment: Deployment, markers: Path) -> None:
    dep = deployment
    dep.two_workers()
    marker = markers / "slow"
    dep.model.add_script(
        "TASK-TERM",
        [
            Step.tool("run_command", {"command": f"touch {marker} && sleep 2 && echo finished > done.txt"}),
            Step.tool("run_command", {"command": "cat done.txt"}),
            Step.text("all done"),
        ],
    )
    api = dep.api[0]
    with Client(base_url=api.url, api_key=api.org_key, org_id=api.org_id) as client:
        sid = client.sessions.create(prompt="TASK-TERM go").session_id
        wait_until(marker.exists, 120, str([w.log() for w in dep.workers]))
        worker = holder(dep, sid)
        assert worker is not None
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=60) == 0, worker.log()
        assert "its sessions were given back" in worker.log()
        survivor = next(w for w in dep.workers if w is not worker)
        done = wait_for(client, sid, settled, timeout=120)
        assert (done.status, done.status_detail) == ("exit", "finished"), survivor.log()
        events = [e.event_type for e in client.sessions.events(sid).items]
        # given back, not lost: no takeover, and the command in flight was not cut off
        assert "runner_lost" not in events
        assert "tool_interrupted" not in events
        assert [m.message for m in client.sessions.messages(sid).items].count("all done") == 1
    # the first command ran to its end (once), the second ran on the survivor, in the restored workspace
    assert (survivor.log_path.parent / "workspaces" / sid / "done.txt").read_text() == "finished\n"
    sent = [r.body for r in dep.model.requests if "TASK-TERM" in json.dumps(r.body)]
    results = [m.get("content") for m in sent[-1]["messages"] if m.get("role") == "tool"]
    assert results[1] is not None and "finished" in str(results[1]), results
    # the checkpoint was taken after the last step: nothing was lost, and the agent is not told otherwise
    assert not any("the machine was replaced" in json.dumps(body) for body in sent)
    assert holder(dep, sid) is None


def test_a_second_sigterm_cuts_the_step_short(deployment: Deployment, markers: Path) -> None:
    dep = deployment
    dep.two_workers()
    marker = markers / "long"
    dep.model.add_script(
        "TASK-CUT",
        [Step.tool("run_command", {"command": f"touch {marker} && sleep 600"}), Step.text("stopped early")],
    )
    api = dep.api[0]
    with Client(base_url=api.url, api_key=api.org_key, org_id=api.org_id) as client:
        sid = client.sessions.create(prompt="TASK-CUT go").session_id
        wait_until(marker.exists, 120, str([w.log() for w in dep.workers]))
        worker = holder(dep, sid)
        assert worker is not None
        worker.process.send_signal(signal.SIGTERM)
        wait_until(lambda: "worker stopping" in worker.log(), 60, worker.log())
        assert worker.process.poll() is None  # draining: the ten-minute command would hold it
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=120) == 0, worker.log()
        assert "cutting the running sessions short" in worker.log()
        done = wait_for(client, sid, settled, timeout=120)
        assert (done.status, done.status_detail) == ("exit", "finished")
        assert "runner_lost" not in [e.event_type for e in client.sessions.events(sid).items]  # given back
    # the agent was told its command was cut off, not given a made-up result
    last = [json.dumps(r.body) for r in dep.model.requests if "TASK-CUT" in json.dumps(r.body)][-1]
    assert "The server stopped while this tool call was running" in last


def test_a_delete_reaches_the_worker_through_notify(deployment: Deployment, markers: Path) -> None:
    dep = deployment
    dep.two_workers()
    pid_file = markers / "pid"
    dep.model.add_script(
        "TASK-STOP", [Step.tool("run_command", {"command": f"sh -c 'echo $$ > {pid_file}; exec sleep 600'"})]
    )
    api = dep.api[1]
    with Client(base_url=api.url, api_key=api.org_key, org_id=api.org_id) as client:
        sid = client.sessions.create(prompt="TASK-STOP go").session_id
        wait_until(
            lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 120, "the command did not start"
        )
        pid = int(pid_file.read_text())
        assert holder(dep, sid) is not None
        client.sessions.terminate(sid)
        # the workers' polls (stops, procrastinate's abort poll) are a minute apart here: only the NOTIFY is this fast
        wait_until(lambda: not alive(pid), 20, "the command still runs: the stop did not reach the worker")
        wait_until(lambda: holder(dep, sid) is None, 20, "the worker did not give the session back")
        got = client.sessions.get(sid)
        assert (got.status, got.status_detail) == ("exit", "user_request")
    assert all(w.process.poll() is None for w in dep.workers)
    response = httpx2.get(f"{api.url}/readyz", timeout=10)
    assert response.status_code == 200 and response.json()["checks"]["database"] == "ok"


def test_a_killed_worker_s_session_finishes_on_the_other(deployment: Deployment, markers: Path) -> None:
    """Last in the module: it kills an API replica as well."""
    dep = deployment
    dep.two_workers()
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
    restored = survivor.log_path.parent / "workspaces" / sid / "one.txt"
    assert restored.exists(), survivor.log()
    assert restored.read_text() == "one\n"
    sent = [json.dumps(r.body) for r in dep.model.requests if "TASK-TAKEOVER" in json.dumps(r.body)]
    assert any("the machine was replaced; the workspace is as of step" in body for body in sent)
