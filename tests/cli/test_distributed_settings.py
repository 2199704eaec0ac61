"""With PostgreSQL, ``serve`` and ``worker`` refuse to start without CODEYARD_SECRET_KEY, naming it (contract §9):
every process of a deployment must share one key, so none is generated."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("command", [["serve", "--no-runner"], ["worker", "--concurrency", "2"]])
def test_postgres_without_a_secret_key_refuses_to_start(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEYARD_", "DEVIN_"))}
    env |= {
        "PYTHONPATH": str(REPO / "src"),
        "CODEYARD_DATA_DIR": str(tmp_path / "data"),
        "CODEYARD_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:1/none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "codeyard", *command], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "CODEYARD_SECRET_KEY is required with PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "secret_key").exists()
