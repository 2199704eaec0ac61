"""Webhook management over HTTP (contract §10): CRUD, the secret shown once, roles, other orgs, bad targets."""

from typing import Any

import pytest

from codeyard.services.principal import Role
from codeyard.services.webhooks import MAX_WEBHOOKS_PER_ORG, WebhookSpec
from tests.conftest import ApiEnv


async def create(api: ApiEnv, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    response = await api.client.post(api.org_path("/webhooks"), headers=api.auth(key), json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_create_shows_the_secret_once_and_crud_works(hooks_api: ApiEnv) -> None:
    api = hooks_api
    made = await create(
        api, {"url": "http://127.0.0.1:9/hook", "event_types": ["session.created"], "description": "ci"}
    )
    assert made["secret"].startswith("whsec_") and made["webhook_id"].startswith("webhook-")
    assert (made["url"], made["event_types"], made["description"]) == (
        "http://127.0.0.1:9/hook",
        ["session.created"],
        "ci",
    )

    path = api.org_path(f"/webhooks/{made['webhook_id']}")
    got = (await api.client.get(path, headers=api.auth())).json()
    assert got["secret"] is None and got["webhook_id"] == made["webhook_id"]
    listed = (await api.client.get(api.org_path("/webhooks"), headers=api.auth())).json()
    assert [w["webhook_id"] for w in listed["items"]] == [made["webhook_id"]]
    assert all(w["secret"] is None for w in listed["items"]) and listed["total"] == 1

    patched = await api.client.patch(path, headers=api.auth(), json={"event_types": None, "description": "all"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["event_types"], patched.json()["description"]) == (None, "all")
    assert patched.json()["url"] == "http://127.0.0.1:9/hook"  # untouched by a PATCH that does not name it

    deleted = await api.client.delete(path, headers=api.auth())
    assert deleted.status_code == 200 and deleted.json()["webhook_id"] == made["webhook_id"]
    assert (await api.client.get(path, headers=api.auth())).status_code == 404


async def test_only_org_admins_manage_webhooks_and_other_orgs_see_nothing(hooks_api: ApiEnv) -> None:
    api = hooks_api
    made = await create(api, {"url": "http://127.0.0.1:9/hook"})
    member = await api.key(Role.ORG_MEMBER)
    for method, suffix in (("GET", "/webhooks"), ("POST", "/webhooks"), ("GET", f"/webhooks/{made['webhook_id']}")):
        response = await api.client.request(
            method, api.org_path(suffix), headers=api.auth(member), json={"url": "http://127.0.0.1:9/x"}
        )
        assert response.status_code == 403, (method, suffix, response.text)
    other_org, other_key = await api.new_org()
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.client.request(
            method, api.org_path(f"/webhooks/{made['webhook_id']}", other_org), headers=api.auth(other_key), json={}
        )
        assert response.status_code == 404, (method, response.text)
    response = await api.client.get(
        api.org_path(f"/webhooks/{made['webhook_id']}/deliveries", other_org), headers=api.auth(other_key)
    )
    assert response.status_code == 404
    assert (await api.client.get(api.org_path("/webhooks", other_org), headers=api.auth(other_key))).json()[
        "total"
    ] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://user:pw@127.0.0.1/x"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "http://127.0.0.1:99999/x"}, "url"),
        ({"url": "http://127.0.0.1/x", "event_types": ["session.exploded"]}, "event_types"),
        ({"url": "http://127.0.0.1/x", "event_types": []}, "event_types"),
        ({"url": "http://127.0.0.1/" + "x" * 3000}, "url"),
        ({"url": "http://no-such-host.invalid/x"}, "url"),
        ({}, "url"),
    ],
)
async def test_bad_webhooks_are_422_naming_the_field(hooks_api: ApiEnv, body: dict[str, Any], field: str) -> None:
    response = await hooks_api.client.post(hooks_api.org_path("/webhooks"), headers=hooks_api.auth(), json=body)
    assert response.status_code == 422, response.text
    assert field in response.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
    ],
)
async def test_private_targets_are_refused_unless_allowed(api: ApiEnv, url: str) -> None:
    """``api`` runs with the default setting (private targets refused): a webhook cannot probe the server's network."""
    response = await api.client.post(api.org_path("/webhooks"), headers=api.auth(), json={"url": url})
    assert response.status_code == 422, response.text
    assert "CODEYARD_WEBHOOK_ALLOW_PRIVATE" in response.text or "resolve" in response.text
    listed = (await api.client.get(api.org_path("/webhooks"), headers=api.auth())).json()
    assert listed["total"] == 0


async def test_a_patch_to_a_private_target_is_refused(api: ApiEnv) -> None:
    made = await api.services.webhooks.create(None, api.org_id, WebhookSpec(url="http://93.184.215.14/hook"))
    response = await api.client.patch(
        api.org_path(f"/webhooks/{made.webhook.id}"), headers=api.auth(), json={"url": "http://127.0.0.1/x"}
    )
    assert response.status_code == 422, response.text
    assert (await api.services.webhooks.get(api.org_id, made.webhook.id)).url == "http://93.184.215.14/hook"


async def test_an_org_has_a_bounded_number_of_webhooks(hooks_api: ApiEnv) -> None:
    api = hooks_api
    for i in range(MAX_WEBHOOKS_PER_ORG):
        await api.services.webhooks.create(None, api.org_id, WebhookSpec(url=f"http://127.0.0.1:9/{i}"))
    response = await api.client.post(
        api.org_path("/webhooks"), headers=api.auth(), json={"url": "http://127.0.0.1:9/x"}
    )
    assert response.status_code == 409, response.text
    assert "at most" in response.json()["detail"]
