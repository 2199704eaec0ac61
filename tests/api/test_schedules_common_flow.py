"""The Devin common-flows schedule example, as a user's script would run it against a live server."""

import httpx2

from tests.conftest import LiveServer


def test_common_flow_schedules_against_a_live_server(live_server: LiveServer) -> None:
    base = f"{live_server.url}/v3/organizations/{live_server.org_id}"
    headers = {"Authorization": f"Bearer {live_server.org_key}"}
    with httpx2.Client(headers=headers, timeout=30) as http:
        created = http.post(
            f"{base}/schedules",
            json={
                "name": "Daily test run",
                "prompt": "Run the test suite and report failures",
                "cron_schedule": "0 9 * * 1-5",
                "timezone": "America/New_York",
                "is_enabled": True,
            },
        )
        assert created.status_code == 200, created.text
        schedule = created.json()
        sid = schedule["schedule_id"]
        assert schedule["scheduled_session_id"] == sid and sid.startswith("sched-")
        assert (schedule["frequency"], schedule["cron_schedule"]) == ("0 9 * * 1-5", "0 9 * * 1-5")
        assert schedule["enabled"] is schedule["is_enabled"] is True
        assert schedule["next_run_at"].endswith("Z") and isinstance(schedule["created_at"], str)

        listed = http.get(f"{base}/schedules").json()
        assert sid in [s["schedule_id"] for s in listed["items"]]
        assert {"items", "end_cursor", "has_next_page", "total"} <= set(listed)

        paused = http.patch(f"{base}/schedules/{sid}", json={"is_enabled": False}).json()
        assert paused["is_enabled"] is False and paused["next_run_at"] is None

        bad = http.post(f"{base}/schedules", json={"prompt": "p", "cron_schedule": "0 9 * * * *"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "cron_schedule"

        assert http.delete(f"{base}/schedules/{sid}").status_code == 200
        gone = http.get(f"{base}/schedules/{sid}")
        assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
        assert isinstance(gone.json()["detail"], str)
