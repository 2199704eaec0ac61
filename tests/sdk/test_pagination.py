"""Auto-pagination: cursor lists follow `end_cursor`; schedules advance `offset`; pages load lazily."""

from typing import Any

import pytest

from codeyard.sdk import APIResponseValidationError, Client
from tests.sdk.fake_api import ORG, FakeAPI, Recorded, Reply, message_json, numbered_session_id, three_session_pages

SESSIONS = f"/v3/organizations/{ORG}/sessions"
SCHEDULES = f"/v3/organizations/{ORG}/schedules"


def test_list_all_walks_three_pages(api: FakeAPI, client: Client) -> None:
    api.on("GET", SESSIONS, three_session_pages)

    sessions = list(client.sessions.list_all(first=2, tags=["x"]))

    assert [s.session_id for s in sessions] == [numbered_session_id(n) for n in range(6)]
    requests = api.requests_to("GET", SESSIONS)
    assert [r.params("after") for r in requests] == [[], ["p2"], ["p3"]]
    # Filters and page size are repeated on every page.
    assert all(r.params("tags") == ["x"] and r.params("first") == ["2"] for r in requests)


def test_pages_are_fetched_only_when_needed(api: FakeAPI, client: Client) -> None:
    api.on("GET", SESSIONS, three_session_pages)

    iterator = client.sessions.list_all()
    first_two = [next(iterator), next(iterator)]

    assert [s.session_id for s in first_two] == [numbered_session_id(0), numbered_session_id(1)]
    assert len(api.requests_to("GET", SESSIONS)) == 1


def test_iteration_stops_when_the_server_gives_no_cursor(api: FakeAPI, client: Client) -> None:
    # has_next_page without a cursor must not loop forever on the first page.
    body: dict[str, Any] = {"items": [message_json(1)], "end_cursor": None, "has_next_page": True}
    api.on("GET", f"{SESSIONS}/{numbered_session_id(1)}/messages", Reply(json=body))

    assert [m.event_id for m in client.sessions.iter_messages(numbered_session_id(1))] == ["evt-1"]


def _schedule(n: int) -> dict[str, Any]:
    return {
        "scheduled_session_id": f"sched-{n}",
        "schedule_id": f"sched-{n}",
        "prompt": "nightly",
        "frequency": "0 2 * * *",
        "cron_schedule": "0 2 * * *",
        "timezone": "Europe/Paris",
        "enabled": True,
        "is_enabled": True,
        "next_run_at": "2026-01-02T01:00:00Z",
        "created_at": "2026-01-01T00:00:00Z",
    }


def offset_pages(request: Recorded) -> Reply:
    offset = int((request.params("offset") or ["0"])[0])
    items = [_schedule(n) for n in range(offset, min(offset + 2, 5))]
    return Reply(json={"items": items, "end_cursor": None, "has_next_page": offset + 2 < 5, "total": 5})


def test_schedules_paginate_by_offset(api: FakeAPI, client: Client) -> None:
    api.on("GET", SCHEDULES, offset_pages)

    schedules = list(client.schedules.list_all(limit=2))

    assert [s.scheduled_session_id for s in schedules] == [f"sched-{n}" for n in range(5)]
    assert [r.params("offset") for r in api.requests_to("GET", SCHEDULES)] == [[], ["2"], ["4"]]
    assert schedules[0].next_run_at is not None
    assert schedules[0].next_run_at.isoformat() == "2026-01-02T01:00:00+00:00"


def test_a_server_repeating_the_requested_cursor_is_an_error_not_an_endless_loop(api: FakeAPI, client: Client) -> None:
    def stuck(request: Recorded) -> Reply:
        # The first page points at "p2"; asked for "p2", the server answers with "p2" again, forever.
        return Reply(json={"items": [message_json(1)], "end_cursor": "p2", "has_next_page": True})

    api.on("GET", f"{SESSIONS}/{numbered_session_id(1)}/messages", stuck)

    with pytest.raises(APIResponseValidationError, match="repeats a page"):
        list(client.sessions.iter_messages(numbered_session_id(1)))
    assert len(api.requests_to("GET", f"{SESSIONS}/{numbered_session_id(1)}/messages")) == 2
