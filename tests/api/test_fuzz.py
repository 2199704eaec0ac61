"""A bounded schemathesis run against a real ``codeyard serve``, driven by the server's own OpenAPI document: no
5xx, every response matches its documented schema, and every status code is documented.

Bounded so that it stays well under two minutes on two shared cores: a few cases per operation (a few hundred in
all), one fixed seed, no shrinking, no time budget (the case count is fixed). The schemathesis CLI runs
as a subprocess, as a user would run it.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, start_server, stop_server

pytestmark = pytest.mark.slow

SEED = 1212
CASES_PER_OPERATION = 4
STREAMS = r"/stream$"
"""Live streams answer for as long as the client listens: they are tested in tests/runtime/test_streams.py."""
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path_factory.mktemp("fuzz") / "data",
        {
            "CODEYARD_RUNNER_ENABLED": "false",
            "CODEYARD_SCHEDULER_ENABLED": "false",
            "CODEYARD_RATE_LIMIT": "1000000/minute",
            "CODEYARD_ACCESS_LOG": "false",
        },
    )
    yield server
    stop_server(server)


def schemathesis(server: LiveServer, key: str, report: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        str(CASES_PER_OPERATION),
        "--seed",
        str(SEED),
        "--no-shrink",
        "--workers",
        "1",
        "--exclude-path-regex",
        STREAMS,
        "--request-timeout",
        "20",
        "--header",
        f"Authorization: Bearer {key}",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    return subprocess.run(command, capture_output=True, text=True, timeout=420, env=env, check=False)


def test_the_documented_api_survives_a_bounded_fuzzing_run(fuzz_server: LiveServer, tmp_path: Path) -> None:
    """With the enterprise key, so the enterprise operations are reached too (org paths name the org)."""
    result = schemathesis(fuzz_server, fuzz_server.enterprise_key, tmp_path / "junit.xml")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    generated = re.search(r"(\d+) generated", result.stdout)
    assert generated is not None and 100 <= int(generated.group(1)) <= 1500, result.stdout[-1500:]
    assert "Internal Server Error" not in fuzz_server.log()
