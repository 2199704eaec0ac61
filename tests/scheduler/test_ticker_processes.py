"""Two real ``codeyard serve`` processes on one database (SQLite, or PostgreSQL with CODEYARD_TEST_DATABASE), both
ticking every second, over two minutes of real time: an every-minute schedule starts exactly one session per minute."""

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

from tests.conftest import start_server, stop_server
from tests.databases import query

pytestmark = pytest.mark.slow


def test_two_serve_processes_on_one_database_start_one_session_per_minute(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"CODEYARD_SCHEDULER_INTERVAL": "1", "CODEYARD_RUNNER_ENABLED": "false"}
    first = start_server(data_dir, env)
    second = start_server(data_dir, env)  # finds the bootstrap done and the same keys working
    try:
        headers = {"Authorization": f"Bearer {first.org_key}"}
        created = httpx2.post(
            f"{first.url}/v3/organizations/schedules",
            json={"prompt": "minutely", "frequency": "* * * * *"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 200, created.text
        schedule_id = created.json()["schedule_id"]
        first_due = datetime.strptime(created.json()["next_run_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        second_due = first_due.timestamp() + 60
        while time.time() < second_due + 8:  # both due minutes, plus time for both tickers to have tried
            time.sleep(1)

        listed = httpx2.get(
            f"{second.url}/v3/organizations/sessions", params={"schedule_id": schedule_id}, headers=headers, timeout=10
        )
        sessions = listed.json()["items"]
        runs = query(
            data_dir,
            "SELECT due_at, session_id FROM schedule_runs WHERE schedule_id = :s ORDER BY due_at",
            s=schedule_id,
        )
        fired = [due_at for due_at, _ in runs if due_at <= second_due]
        assert fired == [first_due.timestamp(), second_due]
        ours = {session_id for due_at, session_id in runs if due_at <= second_due}
        assert ours <= {s["session_id"] for s in sessions}
        assert len([s for s in sessions if s["session_id"] in ours]) == 2
        assert all(s["origin"] == "automation" for s in sessions)
        assert len(sessions) == len(runs)  # no session without its run: nothing fired twice
        for server in (first, second):
            assert "schedule ticker started" in server.log()
            assert "schedule tick failed" not in server.log()
    finally:
        stop_server(second)
        stop_server(first)
