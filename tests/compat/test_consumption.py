"""ACU consumption (issue 13 §4): working time counted by the runner service shows up per day, per org, session
and service user, and as enterprise totals; the cycle limits bound what a session may still use."""

import calendar

from codeyard.services.consumption import cycle_start, day_of
from codeyard.services.principal import Role
from tests.conftest import ApiEnv


async def _session(api: ApiEnv, key: str | None = None) -> str:
    response = await api.client.post(api.org_path("/sessions"), headers=api.auth(key), json={"prompt": "work"})
    return str(response.json()["session_id"])


async def test_daily_consumption_follows_working_time(api: ApiEnv) -> None:
    a = await _session(api)
    b = await _session(api)
    await api.services.runs.add_working_time(a, 15 * 60)  # one ACU
    await api.services.runs.add_working_time(a, 7.5 * 60)
    await api.services.runs.add_working_time(b, 30 * 60)

    daily = await api.client.get(api.org_path("/consumption/daily"), headers=api.auth())
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert body["total_acus"] == 3.5
    [today] = body["consumption_by_date"]
    assert today["acus"] == 3.5
    assert today["acus_by_product"] == {"devin": 3.5, "cascade": 0.0, "terminal": 0.0, "review": 0.0}
    assert today["date"] % 86400 == 8 * 3600  # days start at midnight Pacific

    per_session = await api.client.get(api.org_path(f"/consumption/daily/sessions/{a}"), headers=api.auth())
    assert per_session.json()["total_acus"] == 1.5
    me = (await api.client.get("/v3/self", headers=api.auth())).json()["service_user_id"]
    per_user = await api.client.get(api.org_path(f"/consumption/daily/service-users/{me}"), headers=api.auth())
    assert per_user.json()["total_acus"] == 3.5
    future = await api.client.get(
        api.org_path("/consumption/daily"), headers=api.auth(), params={"time_after": today["date"] + 86400}
    )
    assert future.json() == {"consumption_by_date": [], "total_acus": 0.0}

    # The session's own total agrees with the report.
    session = await api.client.get(api.org_path(f"/sessions/{a}"), headers=api.auth())
    assert session.json()["acus_consumed"] == 1.5


async def test_consumption_is_scoped_and_permissioned(api: ApiEnv) -> None:
    mine = await _session(api)
    await api.services.runs.add_working_time(mine, 15 * 60)
    other_org, other_key = await api.new_org()
    theirs = (
        await api.client.post(api.org_path("/sessions", other_org), headers=api.auth(other_key), json={"prompt": "x"})
    ).json()["session_id"]
    await api.services.runs.add_working_time(theirs, 30 * 60)

    assert (await api.client.get(api.org_path("/consumption/daily"), headers=api.auth())).json()["total_acus"] == 1.0
    assert (
        await api.client.get(api.org_path(f"/consumption/daily/sessions/{theirs}"), headers=api.auth())
    ).status_code == 404
    member = await api.key(Role.ORG_MEMBER)
    assert (await api.client.get(api.org_path("/consumption/daily"), headers=api.auth(member))).status_code == 403
    assert (await api.client.get("/v3/enterprise/consumption/daily", headers=api.auth())).status_code == 403

    total = await api.client.get("/v3/enterprise/consumption/daily", headers=api.auth(api.enterprise_key))
    assert total.json()["total_acus"] == 3.0
    per_org = await api.client.get(
        f"/v3/enterprise/consumption/daily/organizations/{other_org}", headers=api.auth(api.enterprise_key)
    )
    assert per_org.json()["total_acus"] == 2.0


async def test_cycle_limits_bound_a_session(api: ApiEnv) -> None:
    first = await _session(api)
    await api.services.runs.add_working_time(first, 4 * 15 * 60)  # 4 ACUs used this cycle
    second = await _session(api)
    row = await api.services.sessions.get(api.org_id, second)
    assert await api.services.consumption.session_budget(row) is None

    ent = api.auth(api.enterprise_key)
    limited = await api.client.put(
        f"/v3/enterprise/consumption/acu-limits/devin/organizations/{api.org_id}",
        headers=ent,
        json={"cycle_acu_limit": 5},
    )
    assert limited.status_code == 200, limited.text
    assert limited.json()["org_cycle_acu_limits"] == {api.org_id: 5.0}
    assert await api.services.consumption.session_budget(row) == 1.0  # 5 allowed - 4 used

    await api.client.put("/v3/enterprise/consumption/acu-limits/devin", headers=ent, json={"cycle_acu_limit": 4.5})
    assert await api.services.consumption.session_budget(row) == 0.5

    await api.client.delete("/v3/enterprise/consumption/acu-limits/devin", headers=ent)
    await api.client.delete(f"/v3/enterprise/consumption/acu-limits/devin/organizations/{api.org_id}", headers=ent)
    assert await api.services.consumption.session_budget(row) is None
    bad = await api.client.put("/v3/enterprise/consumption/acu-limits/devin", headers=ent, json={"cycle_acu_limit": -1})
    assert bad.status_code == 422


def test_days_and_cycles() -> None:
    utc = calendar.timegm
    # 07:59 UTC on March 1st is still February 28th in the Pacific reporting day, which began at 08:00 UTC.
    assert day_of(utc((2026, 3, 1, 7, 59, 0))) == utc((2026, 2, 28, 8, 0, 0))
    assert day_of(utc((2026, 3, 1, 8, 0, 0))) == utc((2026, 3, 1, 8, 0, 0))
    # The cycle is the calendar month of reporting days.
    assert cycle_start(utc((2026, 3, 2, 12, 0, 0))) == utc((2026, 3, 1, 8, 0, 0))
    assert cycle_start(utc((2026, 3, 1, 7, 0, 0))) == utc((2026, 2, 1, 8, 0, 0))
