"""``/v3/self`` and ``/v3/enterprise/organizations`` (contract §2): every principal, CRUD, pagination, the role
matrix, and the Devin common-flows Python examples for self and organizations against a live server."""

from typing import Any

import httpx2
import pytest

from codeyard.services.principal import Role
from tests.conftest import ApiEnv, LiveServer

ORGS = "/v3/enterprise/organizations"


async def test_self_describes_each_kind_of_service_user(api: ApiEnv) -> None:
    org_self = (await api.client.get("/v3/self", headers=api.auth())).json()
    assert org_self["principal_type"] == "service_user"
    assert org_self["service_user_name"] == "default-admin"
    assert org_self["org_id"] == api.org_id
    assert org_self["service_user_id"].startswith("service-user-")

    enterprise = (await api.client.get("/v3/self", headers=api.auth(api.enterprise_key))).json()
    assert enterprise["org_id"] is None
    assert enterprise["service_user_name"] == "enterprise-admin"

    member_key = await api.key(Role.ORG_MEMBER)
    member = (await api.client.get("/v3/self", headers=api.auth(member_key))).json()
    assert member == {
        "principal_type": "service_user",
        "service_user_id": member["service_user_id"],
        "service_user_name": "org_member-user",
        "org_id": api.org_id,
    }
    assert len({org_self["service_user_id"], enterprise["service_user_id"], member["service_user_id"]}) == 3


async def test_organization_crud(api: ApiEnv) -> None:
    admin = api.auth(api.enterprise_key)
    created = await api.client.post(ORGS, headers=admin, json={"name": "  Data Science  ", "max_session_acu_limit": 5})
    assert created.status_code == 200, created.text
    org = created.json()
    assert org["org_id"].startswith("org-") and org["name"] == "Data Science"
    assert org["max_session_acu_limit"] == 5 and org["max_cycle_acu_limit"] is None
    assert type(org["created_at"]) is int and type(org["updated_at"]) is int

    assert (await api.client.get(f"{ORGS}/{org['org_id']}", headers=admin)).json() == org
    listed = (await api.client.get(ORGS, headers=admin)).json()
    assert [o["name"] for o in listed["items"]] == ["default", "Data Science"]

    patched = await api.client.patch(f"{ORGS}/{org['org_id']}", headers=admin, json={"max_cycle_acu_limit": 100})
    assert patched.json()["max_cycle_acu_limit"] == 100 and patched.json()["name"] == "Data Science"
    assert patched.json()["max_session_acu_limit"] == 5
    renamed = await api.client.patch(f"{ORGS}/{org['org_id']}", headers=admin, json={"name": "DS"})
    assert renamed.json()["name"] == "DS"

    deleted = await api.client.delete(f"{ORGS}/{org['org_id']}", headers=admin)
    assert deleted.status_code == 200 and deleted.json()["org_id"] == org["org_id"]
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.client.request(method, f"{ORGS}/{org['org_id']}", headers=admin, json={"name": "x"})
        assert response.status_code == 404, method
        assert isinstance(response.json()["detail"], str)
    assert [o["name"] for o in (await api.client.get(ORGS, headers=admin)).json()["items"]] == ["default"]
    gone = await api.client.get(f"/v3/organizations/{org['org_id']}/sessions", headers=admin)
    assert gone.status_code == 404


async def test_organization_validation(api: ApiEnv) -> None:
    admin = api.auth(api.enterprise_key)
    bad_creates: list[Any] = [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 257},
        {"name": 5},
        {"name": "ok", "max_cycle_acu_limit": -1},
        {"name": "ok", "max_session_acu_limit": "lots"},
        ["name"],
    ]
    for body in bad_creates:
        response = await api.client.post(ORGS, headers=admin, json=body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["detail"], list)
    nan = await api.client.post(
        ORGS,
        headers={**admin, "Content-Type": "application/json"},
        content=b'{"name": "n", "max_cycle_acu_limit": NaN}',
    )
    assert nan.status_code == 422
    null_name = await api.client.patch(f"{ORGS}/{api.org_id}", headers=admin, json={"name": None})
    assert null_name.status_code == 422
    assert null_name.json()["detail"][0]["loc"] == ["body", "name"]
    assert [o["name"] for o in (await api.client.get(ORGS, headers=admin)).json()["items"]] == ["default"]


async def test_organizations_paginate(api: ApiEnv) -> None:
    admin = api.auth(api.enterprise_key)
    for i in range(4):
        await api.client.post(ORGS, headers=admin, json={"name": f"team {i}"})
    names: list[str] = []
    after = None
    while True:
        page = await api.client.get(ORGS, headers=admin, params={"first": 2, **({"after": after} if after else {})})
        body = page.json()
        assert len(body["items"]) <= 2
        names += [o["name"] for o in body["items"]]
        if not body["has_next_page"]:
            assert body["end_cursor"] is None
            break
        after = body["end_cursor"]
    assert names == ["default", "team 0", "team 1", "team 2", "team 3"]


async def test_only_enterprise_admins_manage_organizations(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    calls = [
        ("GET", ORGS, None),
        ("POST", ORGS, {"name": "sneaky"}),
        ("GET", f"{ORGS}/{api.org_id}", None),
        ("PATCH", f"{ORGS}/{api.org_id}", {"name": "renamed"}),
        ("DELETE", f"{ORGS}/{api.org_id}", None),
    ]
    for key in (api.org_key, member):
        for method, path, body in calls:
            response = await api.client.request(method, path, headers=api.auth(key), json=body)
            assert response.status_code == 403, (method, path)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "ManageOrganizations" in response.json()["detail"]
    for method, path, body in calls[:1]:
        assert (await api.client.request(method, path, json=body)).status_code == 401
    org = (await api.client.get(f"{ORGS}/{api.org_id}", headers=api.auth(api.enterprise_key))).json()
    assert org["name"] == "default"
    assert (await api.client.get("/v3/self", headers=api.auth())).status_code == 200


async def test_a_new_orgs_admin_is_confined_to_it(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org("elsewhere")
    me = (await api.client.get("/v3/self", headers=api.auth(other_key))).json()
    assert me["org_id"] == other_org
    own = await api.client.get(api.org_path("/sessions", other_org), headers=api.auth(other_key))
    assert own.status_code == 200
    assert (await api.client.get(api.org_path("/sessions"), headers=api.auth(other_key))).status_code == 403


@pytest.mark.slow
def test_common_flows_for_self_and_organizations_against_a_live_server(live_server: LiveServer) -> None:
    """The docs' Python flows: who am I, list organizations, create one, create a session in it."""
    base = f"{live_server.url}/v3"
    token = live_server.enterprise_key
    with httpx2.Client(timeout=10) as http:
        self_info = http.get(f"{base}/self", headers={"Authorization": f"Bearer {token}"}).json()
        assert self_info["principal_type"] == "service_user" and self_info["org_id"] is None

        orgs = http.get(f"{base}/enterprise/organizations", headers={"Authorization": f"Bearer {token}"}).json()
        assert live_server.org_id in [org["org_id"] for org in orgs["items"]]

        response = http.post(
            f"{base}/enterprise/organizations",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            json={"name": "Data Science Team", "acu_limit": 500},
        )
        assert response.status_code == 200
        org = response.json()
        assert org["name"] == "Data Science Team"

        session = http.post(
            f"{base}/organizations/{org['org_id']}/sessions",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            json={"prompt": "Create a Python script that analyzes CSV data"},
        ).json()
        assert session["session_id"].startswith("devin-") and session["org_id"] == org["org_id"]
        assert session["url"] == f"{live_server.url}/sessions/{session['session_id'].removeprefix('devin-')}"

        org_self = http.get(f"{base}/self", headers={"Authorization": f"Bearer {live_server.org_key}"}).json()
        assert org_self["org_id"] == live_server.org_id
