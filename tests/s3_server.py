"""A real S3 API on loopback: moto's standalone server in a subprocess (never a patched client)."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2


@dataclass
class S3Server:
    endpoint: str

    def create_bucket(self, name: str) -> None:
        response = httpx2.put(f"{self.endpoint}/{name}", timeout=10)
        assert response.status_code == 200, response.text

    def env(self, bucket: str, prefix: str = "codeyard") -> dict[str, str]:
        """The settings of a codeyard process that keeps its blobs in ``bucket``."""
        return {
            "CODEYARD_BLOB_URL": f"s3://{bucket}/{prefix}",
            "CODEYARD_S3_ENDPOINT_URL": self.endpoint,
            "CODEYARD_S3_REGION": "us-east-1",
            "CODEYARD_S3_ACCESS_KEY_ID": "testing",
            "CODEYARD_S3_SECRET_ACCESS_KEY": "testing",
        }


@contextmanager
def running_s3_server(port: int, log_dir: Path) -> Iterator[S3Server]:
    log_path = log_dir / "moto.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited:\n{log_path.read_text()}")
            try:
                httpx2.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start:\n{log_path.read_text()}") from None
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
