"""A full disk, for real: ``codeyard serve`` on a small tmpfs that the test mounts and fills. Writes answer 507
problem+json saying the server is out of storage (not a generic 500), reads keep working, and writes work again
once space is freed. Needs root to mount; skipped, with the reason, elsewhere."""

import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import REPO, free_port
from tests.databases import sqlite_only

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], check=False)
    if done.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs (no CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def serve(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEYARD_", "DEVIN_"))}
    env |= {
        "CODEYARD_DATA_DIR": str(data_dir),
        "CODEYARD_PORT": str(port),
        "CODEYARD_SECRET_KEY": "full-disk-test",
        "CODEYARD_RUNNER_ENABLED": "false",
        "CODEYARD_SCHEDULER_ENABLED": "false",
        "PYTHONPATH": str(REPO / "src"),
    }
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "codeyard", "serve"], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"codeyard serve did not start:\n{log.read_text()}")


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                out.write(b"\0")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@sqlite_only("it fills the disk of the data dir, which holds the database only with SQLite")
def test_a_full_disk_is_a_507_and_reads_keep_working(small_disk: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    process, url = serve(small_disk / "data", log)
    try:
        key = json.loads((small_disk / "data" / "bootstrap.json").read_text())["org_api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        with httpx2.Client(base_url=url, headers=auth, timeout=30) as http:
            before = http.post("/v3/organizations/sessions", json={"prompt": "written before the disk filled"})
            assert before.status_code == 200
            filler = fill(small_disk)

            statuses = []
            for i in range(100):  # SQLite may reuse WAL pages it already owns: write until it needs new space
                r = http.post("/v3/organizations/sessions", json={"prompt": f"{i} " + "x" * 100_000})
                statuses.append(r.status_code)
                if r.status_code != 200:
                    break
            assert statuses[-1] == 507, statuses
            assert r.headers["content-type"] == "application/problem+json"
            assert "out of storage" in r.json()["detail"] and r.json()["request_id"]

            upload = http.post("/v3/organizations/attachments", files={"file": ("a.bin", b"y" * 200_000)})
            assert upload.status_code == 507, upload.text

            read = http.get(f"/v3/organizations/sessions/{before.json()['session_id']}")
            assert read.status_code == 200 and read.json()["title"]
            assert http.get("/v3/organizations/sessions").status_code == 200

            filler.unlink()
            again = http.post("/v3/organizations/sessions", json={"prompt": "after space was freed"})
            assert again.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert "out of storage" in log.read_text()
    assert "Traceback" not in log.read_text()
