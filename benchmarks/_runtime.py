"""Shared harness of the runtime benchmarks: a real server subprocess and the zero-latency scripted model."""

import os
import platform
import statistics
import subprocess
from pathlib import Path

from tests.conftest import LiveServer, start_server
from tests.fakes.model_server import FakeModelServer


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def runtime_env(model: FakeModelServer, **env: str) -> dict[str, str]:
    """A benchmark server's settings: the scripted model, no scheduler, a rate limit no run reaches, and ``env``."""
    base = {
        "CODEYARD_MODEL": "openai:scripted",
        "CODEYARD_MODEL_BASE_URL": model.base_url,
        "CODEYARD_MODEL_API_KEY": "bench",
        "CODEYARD_SCHEDULER_ENABLED": "false",
        "CODEYARD_RATE_LIMIT": "1000000/minute",
        "CODEYARD_LOG_FORMAT": "json",
    }
    return base | env


def runtime_server(data_dir: Path, model: FakeModelServer, **env: str) -> LiveServer:
    return start_server(data_dir, runtime_env(model, **env))


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "README.md").write_text("bench repo\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.email=b@example.com", "-c", "user.name=B", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)
