"""Service users and API keys over HTTP (issue 13 §2): provisioning at both scopes, the token shown once and
working, rotate and revoke, roles, members, and the permission matrix (a member cannot mint keys; an org admin
only in its own org; only an enterprise admin makes enterprise admins)."""

import time

from codeyard.services.principal import Role
from tests.conftest import ApiEnv


async def test_org_admin_provisions_a_member_with_a_working_key(api: ApiEnv) -> None:
    created = await api.client.post(
        f"/v3beta1/organizations/{api.org_id}/service-users",
        headers=api.auth(),
        json={"name": "ci-bot", "role_id": "org_member", "ttl_seconds": 3600},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    token = body["token"]
    user = body["service_user"]
    assert token.startswith("cog_")
    assert user["role_assignments"] == [
        {
            "role": {"role_id": "org_member", "role_name": "Organization member", "role_type": "organization"},
            "org_id": api.org_id,
        }
    ]
    assert user["expires_at"] > time.time()
    me = await api.client.get("/v3/self", headers=api.auth(token))
    assert me.json()["service_user_id"] == user["service_user_id"]

    # The token is never shown again.
    user_id = user["service_user_id"]
    keys = await api.client.get(api.org_path(f"/service-users/{user_id}/api-keys"), headers=api.auth())
    assert token not in keys.text
    [key] = keys.json()["items"]
    assert key["is_active"] is True
    assert key["hint"] == token[:8]

    rotated = await api.client.post(
        api.org_path(f"/service-users/{user_id}/api-keys/{key['api_key_id']}/rotate"), headers=api.auth(), json={}
    )
    assert rotated.status_code == 200, rotated.text
    new_token = rotated.json()["token"]
    assert (await api.client.get("/v3/self", headers=api.auth(new_token))).status_code == 200
    assert (await api.client.get("/v3/self", headers=api.auth(token))).status_code == 401
    active = await api.client.get(
        api.org_path(f"/service-users/{user_id}/api-keys"), headers=api.auth(), params={"status": "active"}
    )
    assert [k["api_key_id"] for k in active.json()["items"]] == [rotated.json()["api_key_id"]]

    revoked = await api.client.delete(
        api.org_path(f"/service-users/{user_id}/api-keys/{rotated.json()['api_key_id']}"), headers=api.auth()
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert (await api.client.get("/v3/self", headers=api.auth(new_token))).status_code == 401
    again = await api.client.delete(
        api.org_path(f"/service-users/{user_id}/api-keys/{rotated.json()['api_key_id']}"), headers=api.auth()
    )
    assert again.status_code == 409
    unknown = await api.client.delete(
        api.org_path(f"/service-users/{user_id}/api-keys/apikey-nope"), headers=api.auth()
    )
    assert unknown.status_code == 404

    members = await api.client.get(f"/v3beta1/organizations/{api.org_id}/members/users", headers=api.auth())
    assert user_id in [m["user_id"] for m in members.json()["items"]]
    assert (await api.client.get(api.org_path("/members/idp-users"), headers=api.auth())).json()["items"] == []


async def test_permission_matrix(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    other_org, other_admin = await api.new_org()
    body = {"name": "x", "role_id": "org_member"}

    assert (
        await api.client.post(api.org_path("/service-users"), headers=api.auth(member), json=body)
    ).status_code == 403
    assert (await api.client.get(api.org_path("/service-users"), headers=api.auth(member))).status_code == 403
    # An org admin acts only in its own org.
    assert (
        await api.client.post(api.org_path("/service-users"), headers=api.auth(other_admin), json=body)
    ).status_code == 403
    mine = (await api.client.post(api.org_path("/service-users"), headers=api.auth(), json=body)).json()
    user_id = mine["service_user"]["service_user_id"]
    assert (
        await api.client.get(api.org_path(f"/service-users/{user_id}", other_org), headers=api.auth(other_admin))
    ).status_code == 404
    assert (
        await api.client.post(
            api.org_path(f"/service-users/{user_id}/api-keys", other_org), headers=api.auth(other_admin), json={}
        )
    ).status_code == 404
    # Nobody below the enterprise makes an enterprise admin, or reaches the enterprise routes.
    escalate = {"name": "root", "role_id": "enterprise_admin"}
    assert (await api.client.post(api.org_path("/service-users"), headers=api.auth(), json=escalate)).status_code == 403
    assert (await api.client.post("/v3/enterprise/service-users", headers=api.auth(), json=escalate)).status_code == 403
    assert (
        await api.client.patch(
            f"/v3/enterprise/members/service-users/{user_id}", headers=api.auth(), json={"role_id": "enterprise_admin"}
        )
    ).status_code == 403
    bad = await api.client.post(
        api.org_path("/service-users"), headers=api.auth(), json={"name": "x", "role_id": "god"}
    )
    assert bad.status_code == 422
    too_long = {**body, "ttl_seconds": 31_536_001}
    assert (await api.client.post(api.org_path("/service-users"), headers=api.auth(), json=too_long)).status_code == 422


async def test_enterprise_provisioning(api: ApiEnv) -> None:
    ent = api.auth(api.enterprise_key)
    other_org, _ = await api.new_org()
    roles = await api.client.get("/v3/enterprise/roles", headers=ent)
    assert [r["role_id"] for r in roles.json()["items"]] == ["enterprise_admin", "org_admin", "org_member"]

    admin = await api.client.post(
        "/v3beta1/enterprise/service-users",
        headers=ent,
        json={"name": "ops", "role_id": "org_admin", "org_id": other_org},
    )
    assert admin.status_code == 200, admin.text
    token = admin.json()["token"]
    assert (await api.client.get(api.org_path("/service-users", other_org), headers=api.auth(token))).status_code == 200
    missing_org = await api.client.post(
        "/v3/enterprise/service-users", headers=ent, json={"name": "ops", "role_id": "org_member"}
    )
    assert missing_org.status_code == 422

    user_id = admin.json()["service_user"]["service_user_id"]
    demoted = await api.client.patch(
        f"/v3/enterprise/members/service-users/{user_id}", headers=ent, json={"role_id": "org_member"}
    )
    assert demoted.json()["role_assignments"][0]["role"]["role_id"] == "org_member"
    assert (await api.client.get(api.org_path("/service-users", other_org), headers=api.auth(token))).status_code == 403

    key = await api.client.post(
        f"/v3beta1/enterprise/service-users/{user_id}/api-keys",
        headers=ent,
        json={"name": "deploy", "expires_at": int(time.time()) + 600},
    )
    assert key.status_code == 200, key.text
    assert key.json()["api_key_name"] == "deploy"
    listed = await api.client.get(f"/v3/enterprise/service-users/{user_id}/api-keys", headers=ent)
    assert {k["api_key_name"] for k in listed.json()["items"]} == {"default", "deploy"}
    past = await api.client.post(
        f"/v3/enterprise/service-users/{user_id}/api-keys", headers=ent, json={"expires_at": 1}
    )
    assert past.status_code == 422
    legacy = await api.client.get("/v3beta1/enterprise/self", headers=ent)
    assert legacy.json()["org_id"] is None


async def test_enterprise_session_mirror(api: ApiEnv) -> None:
    ent = api.auth(api.enterprise_key)
    other_org, other_key = await api.new_org()
    mine = (await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "a"})).json()
    theirs = (
        await api.client.post(api.org_path("/sessions", other_org), headers=api.auth(other_key), json={"prompt": "b"})
    ).json()

    every = await api.client.get("/v3/enterprise/sessions", headers=ent)
    assert {s["session_id"] for s in every.json()["items"]} == {mine["session_id"], theirs["session_id"]}
    narrowed = await api.client.get("/v3/enterprise/sessions", headers=ent, params={"org_id": other_org})
    assert [s["session_id"] for s in narrowed.json()["items"]] == [theirs["session_id"]]
    got = await api.client.get(f"/v3/enterprise/sessions/{theirs['session_id']}", headers=ent)
    assert got.json()["org_id"] == other_org
    messages = await api.client.get(f"/v3/enterprise/sessions/{theirs['session_id']}/messages", headers=ent)
    assert [m["message"] for m in messages.json()["items"]] == ["b"]
    archived = await api.client.post(f"/v3/enterprise/sessions/{theirs['session_id']}/archive", headers=ent)
    assert archived.json()["is_archived"] is True
    assert (await api.client.get(f"/v3/enterprise/sessions/devin-{'0' * 32}", headers=ent)).status_code == 404
    # Org keys, admins included, never reach the mirror.
    assert (await api.client.get("/v3/enterprise/sessions", headers=api.auth())).status_code == 403
    assert (
        await api.client.get(f"/v3/enterprise/sessions/{theirs['session_id']}", headers=api.auth())
    ).status_code == 403


async def test_org_allowed_tags_and_default(api: ApiEnv) -> None:
    ent = api.auth(api.enterprise_key)
    base = f"/v3/enterprise/organizations/{api.org_id}/tags"
    assert (await api.client.get(base, headers=ent)).json() == {"tags": [], "default_tag": None}
    free = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "tags": ["any"]})
    assert free.status_code == 200

    assert (await api.client.put(base, headers=ent, json={"tags": ["team-a", "team-b"]})).json()["tags"] == [
        "team-a",
        "team-b",
    ]
    assert (await api.client.put(f"{base}/default", headers=ent, json={"tag": "team-a"})).json() == {
        "default_tag": "team-a"
    }
    refused = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "tags": ["x"]})
    assert refused.status_code == 422
    defaulted = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p"})
    assert defaulted.json()["tags"] == ["team-a"]
    chosen = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "tags": ["team-b"]}
    )
    assert chosen.json()["tags"] == ["team-b"]

    assert (await api.client.delete(f"{base}/team-b", headers=ent)).json()["tags"] == ["team-a"]
    assert (await api.client.delete(f"{base}/nope", headers=ent)).status_code == 404
    assert (await api.client.delete(f"{base}/default", headers=ent)).json() == {"default_tag": None}
    assert (await api.client.delete(base, headers=ent)).json() == {"tags": [], "default_tag": None}
    assert (await api.client.get(base, headers=api.auth())).status_code == 403
    assert (await api.client.get("/v3/enterprise/organizations/org-nope/tags", headers=ent)).status_code == 404
