"""``/schedules`` over HTTP (devin-api-reference §8.2, contract §8): both field spellings, ISO times,
``next_run_at`` in the schedule's zone, validation errors naming the field sent, PATCH semantics, soft
delete, pagination, permissions, cross-org isolation, and the sessions a tick starts."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from codeyard.domain.cron import next_fire, parse_zone
from codeyard.scheduler.ticker import Ticker
from codeyard.services.principal import Role
from tests.conftest import ApiEnv

SCHEDULES = "/schedules"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def create(api: ApiEnv, key: str | None = None, org: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"prompt": "Summarise yesterday's failed builds", "frequency": "0 9 * * 1-5"} | fields
    response = await api.client.post(api.org_path(SCHEDULES, org), json=body, headers=api.auth(key))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def refused(api: ApiEnv, body: dict[str, Any], method: str = "POST", suffix: str = "") -> list[Any]:
    """The 422 body's ``loc`` list for a request that must be refused."""
    response = await api.client.request(method, api.org_path(SCHEDULES + suffix), json=body, headers=api.auth())
    assert response.status_code == 422, response.text
    return [item["loc"] for item in response.json()["detail"]]


async def test_create_answers_both_spellings_iso_times_and_next_run_in_the_zone(api: ApiEnv) -> None:
    before = datetime.now(UTC)
    created = await create(api, frequency="0 9 * * *", timezone="Europe/Berlin", tags=["reports"])

    assert created["scheduled_session_id"] == created["schedule_id"]
    assert created["schedule_id"].startswith("sched-")
    assert created["frequency"] == created["cron_schedule"] == "0 9 * * *"
    assert created["enabled"] is created["is_enabled"] is True
    assert created["name"] == "Summarise yesterday's failed builds"
    assert (created["timezone"], created["schedule_type"], created["agent"]) == ("Europe/Berlin", "recurring", "devin")
    assert (created["notify_on"], created["tags"], created["playbook"]) == ("failure", ["reports"], None)
    assert (created["consecutive_failures"], created["skipped_count"]) == (0, 0)
    assert created["last_executed_at"] is None and created["last_error_at"] is None
    me = (await api.client.get("/v3/self", headers=api.auth())).json()["service_user_id"]
    assert created["created_by"] == created["last_edited_by"] == me
    for name in ("created_at", "updated_at", "next_run_at"):
        assert ISO.match(created[name]), created[name]
    next_run = parse(created["next_run_at"])
    berlin = parse_zone("Europe/Berlin")
    assert next_run.astimezone(berlin).strftime("%H:%M") == "09:00"
    assert next_run == next_fire("0 9 * * *", berlin, parse(created["created_at"]))
    assert before < next_run <= before + timedelta(days=1, seconds=1)

    fetched = await api.client.get(api.org_path(f"{SCHEDULES}/{created['schedule_id']}"), headers=api.auth())
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_the_seed_spellings_are_accepted(api: ApiEnv) -> None:
    created = await create(
        api, frequency=None, cron_schedule="*/10 * * * *", is_enabled=False, name="Ten", timezone="Asia/Tokyo"
    )

    assert created["frequency"] == created["cron_schedule"] == "*/10 * * * *"
    assert created["enabled"] is created["is_enabled"] is False
    assert created["next_run_at"] is None  # disabled schedules have no next run
    assert created["name"] == "Ten"


async def test_every_reference_field_is_accepted_and_echoed(api: ApiEnv) -> None:
    playbook = await api.client.post(
        api.org_path("/playbooks"), json={"title": "Triage", "body": "b"}, headers=api.auth()
    )
    playbook_id = playbook.json()["playbook_id"]
    session = await api.client.post(api.org_path("/sessions"), json={"prompt": "standing"}, headers=api.auth())
    target = session.json()["session_id"]

    person = (await api.services.identity.create_service_user("person", Role.ORG_MEMBER, api.org_id)).id
    created = await create(
        api,
        name="Weekly triage",
        agent="data_analyst",
        interval_count=2,
        notify_on="always",
        playbook_id=playbook_id,
        bypass_approval=True,
        create_as_user_id=person,
        platform="linux",
        slack_channel_id="C1",
        slack_team_id="T1",
        target_devin_id=target,
        enabled=True,
    )

    assert created["playbook"] == {"playbook_id": playbook_id, "title": "Triage"}
    assert (created["agent"], created["interval_count"], created["notify_on"]) == ("data_analyst", 2, "always")
    assert (created["bypass_approval"], created["create_as_user_id"], created["platform"]) == (True, person, "linux")
    assert (created["slack_channel_id"], created["slack_team_id"]) == ("C1", "T1")
    assert created["target_devin_id"] == target


async def test_one_time_schedules_take_a_future_scheduled_at(api: ApiEnv) -> None:
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    created = await create(api, frequency=None, schedule_type="one_time", scheduled_at=when.isoformat())

    assert created["schedule_type"] == "one_time"
    assert created["scheduled_at"] == created["next_run_at"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert created["frequency"] is None

    wall = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0, tzinfo=None)
    local = await create(
        api, frequency=None, schedule_type="one_time", scheduled_at=wall.isoformat(), timezone="America/New_York"
    )
    expected = wall.replace(tzinfo=parse_zone("America/New_York")).astimezone(UTC)
    assert parse(local["scheduled_at"]) == expected  # an offset-less time is wall time in the zone


async def test_bad_input_is_a_422_naming_the_field_that_was_sent(api: ApiEnv) -> None:
    for cron in ("0 0 9 * * *", "61 * * * *", "0 25 * * *", "every morning", "", "0 9 31 2 *"):
        assert await refused(api, {"prompt": "p", "frequency": cron}) == [["body", "frequency"]], cron
    assert await refused(api, {"prompt": "p", "cron_schedule": "0 9 * * 8x"}) == [["body", "cron_schedule"]]
    assert await refused(api, {"prompt": "p", "frequency": "0 9 * * *", "timezone": "Mars/Olympus"}) == [
        ["body", "timezone"]
    ]
    assert await refused(api, {"prompt": "p", "frequency": "0 9 * * *", "timezone": "../etc/passwd"}) == [
        ["body", "timezone"]
    ]
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    one_time = {"prompt": "p", "schedule_type": "one_time"}
    assert await refused(api, one_time | {"scheduled_at": past}) == [["body", "scheduled_at"]]
    assert await refused(api, one_time) == [["body", "scheduled_at"]]
    assert await refused(api, one_time | {"scheduled_at": "tomorrow-ish"}) == [["body", "scheduled_at"]]
    assert await refused(api, {"prompt": "p"}) == [["body", "frequency"]]
    assert await refused(api, {"frequency": "0 9 * * *"}) == [["body", "prompt"]]
    assert await refused(api, {"prompt": "p", "frequency": "0 9 * * *", "interval_count": 0}) == [
        ["body", "interval_count"]
    ]
    assert await refused(api, {"prompt": "p", "frequency": "0 9 * * *", "playbook_id": "playbook-nope"}) == [
        ["body", "playbook_id"]
    ]
    assert await refused(api, {"prompt": "p", "frequency": "0 9 * * *", "target_devin_id": "devin-" + "0" * 32}) == [
        ["body", "target_devin_id"]
    ]
    conflicting = {"prompt": "p", "frequency": "0 9 * * *", "cron_schedule": "0 10 * * *"}
    assert await refused(api, conflicting) == [["body", "cron_schedule"]]


async def test_patch_changes_only_what_is_sent_and_recomputes_next_run(api: ApiEnv) -> None:
    playbook = await api.client.post(api.org_path("/playbooks"), json={"title": "T", "body": "b"}, headers=api.auth())
    created = await create(api, playbook_id=playbook.json()["playbook_id"], tags=["a"])
    path = api.org_path(f"{SCHEDULES}/{created['schedule_id']}")

    renamed = (await api.client.patch(path, json={"name": "Renamed"}, headers=api.auth())).json()
    assert renamed["name"] == "Renamed"
    assert renamed["next_run_at"] == created["next_run_at"]
    assert (renamed["tags"], renamed["playbook"]) == (["a"], created["playbook"])

    cleared = (await api.client.patch(path, json={"playbook_id": None, "tags": None}, headers=api.auth())).json()
    assert (cleared["playbook"], cleared["tags"]) == (None, [])

    disabled = (await api.client.patch(path, json={"enabled": False}, headers=api.auth())).json()
    assert (disabled["enabled"], disabled["next_run_at"]) == (False, None)

    moved = (
        await api.client.patch(
            path,
            json={"is_enabled": True, "cron_schedule": "30 6 * * *", "timezone": "Asia/Kolkata"},
            headers=api.auth(),
        )
    ).json()
    assert moved["enabled"] is True
    assert moved["frequency"] == "30 6 * * *"
    assert parse(moved["next_run_at"]).astimezone(parse_zone("Asia/Kolkata")).strftime("%H:%M") == "06:30"

    assert await refused(api, {"frequency": "* * *"}, "PATCH", f"/{created['schedule_id']}") == [["body", "frequency"]]
    assert await refused(api, {"schedule_type": "one_time"}, "PATCH", f"/{created['schedule_id']}") == [
        ["body", "scheduled_at"]
    ]
    assert (await api.client.get(path, headers=api.auth())).json()["frequency"] == "30 6 * * *"


async def test_delete_is_soft_and_returns_the_schedule(api: ApiEnv) -> None:
    created = await create(api)
    path = api.org_path(f"{SCHEDULES}/{created['schedule_id']}")

    deleted = await api.client.delete(path, headers=api.auth())

    assert deleted.status_code == 200
    assert deleted.json()["schedule_id"] == created["schedule_id"]
    assert deleted.json()["enabled"] is False
    assert (await api.client.get(path, headers=api.auth())).status_code == 404
    assert (await api.client.patch(path, json={"name": "x"}, headers=api.auth())).status_code == 404
    assert (await api.client.delete(path, headers=api.auth())).status_code == 404
    listed = (await api.client.get(api.org_path(SCHEDULES), headers=api.auth())).json()
    assert listed["total"] == 0


async def test_list_pages_with_limit_and_offset(api: ApiEnv) -> None:
    ids = [(await create(api, name=f"s{n}"))["schedule_id"] for n in range(5)]

    first = (await api.client.get(api.org_path(SCHEDULES), params={"limit": 2}, headers=api.auth())).json()
    second = (
        await api.client.get(api.org_path(SCHEDULES), params={"limit": 2, "offset": 2}, headers=api.auth())
    ).json()
    last = (await api.client.get(api.org_path(SCHEDULES), params={"limit": 2, "offset": 4}, headers=api.auth())).json()
    everything = (await api.client.get(api.org_path(SCHEDULES), headers=api.auth())).json()

    assert [s["schedule_id"] for s in everything["items"]] == ids[::-1]  # newest first
    assert [s["schedule_id"] for s in first["items"] + second["items"] + last["items"]] == ids[::-1]
    assert (first["total"], first["has_next_page"], second["has_next_page"], last["has_next_page"]) == (
        5,
        True,
        True,
        False,
    )
    assert last["end_cursor"] is None
    for bad in ({"limit": 201}, {"limit": 0}, {"offset": -1}):
        response = await api.client.get(api.org_path(SCHEDULES), params=bad, headers=api.auth())
        assert response.status_code == 422, bad


async def test_members_read_but_cannot_manage(api: ApiEnv) -> None:
    created = await create(api)
    member = await api.key(Role.ORG_MEMBER)
    path = api.org_path(f"{SCHEDULES}/{created['schedule_id']}")

    assert (await api.client.get(path, headers=api.auth(member))).status_code == 200
    assert (await api.client.get(api.org_path(SCHEDULES), headers=api.auth(member))).status_code == 200
    body = {"prompt": "p", "frequency": "0 9 * * *"}
    assert (await api.client.post(api.org_path(SCHEDULES), json=body, headers=api.auth(member))).status_code == 403
    assert (await api.client.patch(path, json={"name": "x"}, headers=api.auth(member))).status_code == 403
    assert (await api.client.delete(path, headers=api.auth(member))).status_code == 403


async def test_another_orgs_schedule_is_not_found(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    theirs = await create(api, key=other_key, org=other_org)
    path = api.org_path(f"{SCHEDULES}/{theirs['schedule_id']}")

    assert (await api.client.get(path, headers=api.auth())).status_code == 404
    assert (await api.client.patch(path, json={"name": "x"}, headers=api.auth())).status_code == 404
    assert (await api.client.delete(path, headers=api.auth())).status_code == 404
    assert (await api.client.get(api.org_path(SCHEDULES), headers=api.auth())).json()["total"] == 0
    enterprise = await api.client.get(api.org_path(SCHEDULES, other_org), headers=api.auth(api.enterprise_key))
    assert [s["schedule_id"] for s in enterprise.json()["items"]] == [theirs["schedule_id"]]


async def test_a_tick_starts_an_automation_session_listable_by_schedule_id(api: ApiEnv) -> None:
    created = await create(api, frequency="0 * * * *", prompt="Hourly check", tags=["hourly"])
    due = parse(created["next_run_at"])

    report = await Ticker(api.services.schedule_runs, api.services.clock).tick((due + timedelta(seconds=1)).timestamp())

    assert len(report.sessions) == 1
    listed = await api.client.get(
        api.org_path("/sessions"), params={"schedule_id": created["schedule_id"]}, headers=api.auth()
    )
    items = listed.json()["items"]
    assert [(s["session_id"], s["origin"], s["tags"]) for s in items] == [
        (report.sessions[0], "automation", ["hourly"])
    ]
    assert items[0]["schedule_id"] == created["schedule_id"]
    after = (await api.client.get(api.org_path(f"{SCHEDULES}/{created['schedule_id']}"), headers=api.auth())).json()
    assert ISO.match(after["last_executed_at"])
    assert parse(after["next_run_at"]) == due + timedelta(hours=1)
