"""``/playbooks`` over HTTP (devin-api-reference §7, contract §7), and the lookups the runner uses."""

import importlib.util
from typing import Any

import httpx2
import pytest

from codeyard.services.principal import Role
from tests.conftest import ApiEnv, LiveServer

PLAYBOOKS = "/playbooks"


def playbook(**overrides: Any) -> dict[str, Any]:
    return {"title": "Deploy", "body": "1. Build\n2. Ship"} | overrides


async def create_playbook(api: ApiEnv, key: str | None = None, org: str | None = None, **fields: Any) -> dict[str, Any]:
    response = await api.client.post(api.org_path(PLAYBOOKS, org), json=playbook(**fields), headers=api.auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def service_user_id(api: ApiEnv, key: str | None = None) -> str:
    me = await api.client.get("/v3/self", headers=api.auth(key))
    return str(me.json()["service_user_id"])


async def test_create_and_get_with_both_spellings(api: ApiEnv) -> None:
    created = await create_playbook(api, macro="!deploy")

    assert created["playbook_id"].startswith("playbook-")
    assert created["title"] == created["name"] == "Deploy"
    assert created["body"] == created["instructions"] == "1. Build\n2. Ship"
    assert created["macro"] == "!deploy"
    assert created["access_type"] == "org"
    assert created["org_id"] == api.org_id
    assert created["created_by"] == created["updated_by"] == await service_user_id(api)
    assert isinstance(created["created_at"], int)
    assert created["updated_at"] == created["created_at"]
    fetched = await api.client.get(api.org_path(f"{PLAYBOOKS}/{created['playbook_id']}"), headers=api.auth())
    assert fetched.json() == created


async def test_create_with_the_common_flows_spelling(api: ApiEnv) -> None:
    response = await api.client.post(
        api.org_path(PLAYBOOKS),
        json={"name": "Revue de code ✅", "instructions": "Lis chaque diff.", "macro": "!revue_code-2"},
        headers=api.auth(),
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["name"] == created["title"] == "Revue de code ✅"
    assert created["instructions"] == created["body"] == "Lis chaque diff."
    assert created["macro"] == "!revue_code-2"


async def test_put_replaces_and_records_the_editor(api: ApiEnv) -> None:
    created = await create_playbook(api, macro="!deploy")
    editor = await api.key(Role.ORG_ADMIN)
    path = api.org_path(f"{PLAYBOOKS}/{created['playbook_id']}")

    response = await api.client.put(
        path, json={"name": "Deploy v2", "instructions": "Ship it."}, headers=api.auth(editor)
    )

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert (replaced["title"], replaced["body"], replaced["macro"]) == ("Deploy v2", "Ship it.", None)
    assert replaced["created_by"] == created["created_by"]
    assert replaced["updated_by"] == await service_user_id(api, editor) != created["created_by"]
    assert replaced["created_at"] == created["created_at"]
    assert (await api.client.get(path, headers=api.auth())).json() == replaced
    assert await api.services.playbooks.by_macro(api.org_id, "!deploy") is None


async def test_delete_returns_the_playbook_and_it_is_gone(api: ApiEnv) -> None:
    created = await create_playbook(api, macro="!gone")
    path = api.org_path(f"{PLAYBOOKS}/{created['playbook_id']}")

    deleted = await api.client.delete(path, headers=api.auth())

    assert deleted.status_code == 200
    assert deleted.json() == created
    assert (await api.client.get(path, headers=api.auth())).status_code == 404
    assert (await api.client.delete(path, headers=api.auth())).status_code == 404
    assert (await api.client.get(api.org_path(PLAYBOOKS), headers=api.auth())).json()["total"] == 0
    again = await create_playbook(api, macro="!gone")  # the macro is free again
    assert again["macro"] == "!gone"


async def test_list_paginates_newest_first(api: ApiEnv) -> None:
    ids = [(await create_playbook(api, title=f"Playbook {i}"))["playbook_id"] for i in range(5)]
    first = await api.client.get(api.org_path(PLAYBOOKS), params={"first": 2}, headers=api.auth())
    page1 = first.json()
    assert (page1["total"], page1["has_next_page"]) == (5, True)
    page2 = (
        await api.client.get(
            api.org_path(PLAYBOOKS), params={"first": 2, "after": page1["end_cursor"]}, headers=api.auth()
        )
    ).json()
    page3 = (
        await api.client.get(
            api.org_path(PLAYBOOKS), params={"first": 2, "after": page2["end_cursor"]}, headers=api.auth()
        )
    ).json()
    assert (page3["has_next_page"], page3["end_cursor"]) == (False, None)
    seen = [p["playbook_id"] for page in (page1, page2, page3) for p in page["items"]]
    assert seen == list(reversed(ids))
    assert all({"name", "instructions"} <= set(p) for p in page1["items"])


async def test_macros_are_unique_per_org(api: ApiEnv) -> None:
    first = await create_playbook(api, macro="!deploy")
    second = await create_playbook(api, title="Other", macro="!release")

    duplicate = await api.client.post(api.org_path(PLAYBOOKS), json=playbook(macro="!deploy"), headers=api.auth())
    assert duplicate.status_code == 409
    assert "!deploy" in duplicate.json()["detail"]
    taken = await api.client.put(
        api.org_path(f"{PLAYBOOKS}/{second['playbook_id']}"), json=playbook(macro="!deploy"), headers=api.auth()
    )
    assert taken.status_code == 409
    keep_own = await api.client.put(
        api.org_path(f"{PLAYBOOKS}/{first['playbook_id']}"), json=playbook(macro="!deploy"), headers=api.auth()
    )
    assert keep_own.status_code == 200
    other_org, other_key = await api.new_org()
    elsewhere = await create_playbook(api, key=other_key, org=other_org, macro="!deploy")
    assert elsewhere["macro"] == "!deploy"


BAD_PLAYBOOKS: list[tuple[dict[str, Any], str]] = [
    ({"body": "b"}, "title"),
    ({"name": "n"}, "body"),
    ({"title": "", "body": "b"}, "title"),
    ({"title": "t" * 501, "body": "b"}, "title"),
    ({"title": "t", "body": "b" * 100_001}, "body"),
    ({"title": 42, "body": "b"}, "title"),
    ({"title": "t", "instructions": ["b"]}, "instructions"),  # the error names the spelling used
    (playbook(macro="deploy"), "macro"),
    (playbook(macro="!"), "macro"),
    (playbook(macro="!de ploy"), "macro"),
    (playbook(macro="!dé"), "macro"),
    (playbook(macro="!" + "a" * 64), "macro"),
    (playbook(macro=7), "macro"),
]


async def test_create_rejects_bad_input(api: ApiEnv) -> None:
    for payload, field in BAD_PLAYBOOKS:
        response = await api.client.post(api.org_path(PLAYBOOKS), json=payload, headers=api.auth())
        assert response.status_code == 422, (payload, response.text)
        assert [e["loc"] for e in response.json()["detail"]] == [["body", field]], payload
    longest = await create_playbook(api, macro="!" + "a" * 63)
    assert len(longest["macro"]) == 64
    assert (await create_playbook(api, macro=""))["macro"] is None


async def test_authentication_and_permissions(api: ApiEnv) -> None:
    created = await create_playbook(api)
    path = api.org_path(f"{PLAYBOOKS}/{created['playbook_id']}")
    member = api.auth(await api.key(Role.ORG_MEMBER))

    assert (await api.client.get(api.org_path(PLAYBOOKS))).status_code == 401
    assert (await api.client.post(api.org_path(PLAYBOOKS), json=playbook())).status_code == 401
    assert (await api.client.get(api.org_path(PLAYBOOKS), headers=member)).json()["total"] == 1
    assert (await api.client.get(path, headers=member)).json() == created
    assert (await api.client.post(api.org_path(PLAYBOOKS), json=playbook(), headers=member)).status_code == 403
    assert (await api.client.put(path, json=playbook(title="Hijack"), headers=member)).status_code == 403
    assert (await api.client.delete(path, headers=member)).status_code == 403
    assert (await api.client.get(path, headers=api.auth())).json() == created


async def test_another_orgs_playbook_is_not_found(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    theirs = await create_playbook(api, key=other_key, org=other_org, title="Their launch codes", macro="!launch")
    ours = api.org_path(f"{PLAYBOOKS}/{theirs['playbook_id']}")

    for response in (
        await api.client.get(ours, headers=api.auth()),
        await api.client.put(ours, json=playbook(), headers=api.auth()),
        await api.client.delete(ours, headers=api.auth()),
    ):
        assert response.status_code == 404
        assert "launch codes" not in response.text
    assert (await api.client.get(api.org_path(PLAYBOOKS), headers=api.auth())).json()["items"] == []
    assert await api.services.playbooks.by_macro(api.org_id, "!launch") is None
    survivor = await api.client.get(
        api.org_path(f"{PLAYBOOKS}/{theirs['playbook_id']}", other_org), headers=api.auth(other_key)
    )
    assert survivor.json() == theirs


async def test_runner_lookups(api: ApiEnv) -> None:
    created = await create_playbook(api, macro="!deploy")
    playbooks = api.services.playbooks

    by_macro = await playbooks.by_macro(api.org_id, "!deploy")
    assert by_macro is not None
    assert (by_macro.id, by_macro.body) == (created["playbook_id"], created["body"])
    without_bang = await playbooks.by_macro(api.org_id, "deploy")
    assert without_bang is not None
    assert without_bang.id == created["playbook_id"]
    assert await playbooks.by_macro(api.org_id, "!other") is None
    assert (await playbooks.get(api.org_id, created["playbook_id"])).title == "Deploy"


needs_cli = pytest.mark.skipif(
    importlib.util.find_spec("codeyard.cli.main") is None, reason="`codeyard serve` (codeyard.cli.main) not built yet"
)


@needs_cli
def test_common_flow_against_a_live_server(live_server: LiveServer) -> None:
    """The documented flow with its ``{name, instructions}`` fields, as a user's script sends them."""
    base = f"{live_server.url}/v3/organizations/{live_server.org_id}"
    headers = {"Authorization": f"Bearer {live_server.org_key}"}

    created = httpx2.post(
        f"{base}/playbooks",
        headers=headers,
        json={"name": "Weekly dependency update", "instructions": "Update all dependencies and open a PR."},
    )
    created.raise_for_status()
    playbook_id = created.json()["playbook_id"]

    fetched = httpx2.get(f"{base}/playbooks/{playbook_id}", headers=headers).json()
    assert fetched["name"] == "Weekly dependency update"
    assert fetched["instructions"] == "Update all dependencies and open a PR."
    listed = httpx2.get(f"{base}/playbooks", headers=headers).json()["items"]
    assert [p["playbook_id"] for p in listed] == [playbook_id]

    updated = httpx2.put(
        f"{base}/playbooks/{playbook_id}",
        headers=headers,
        json={"title": "Weekly dependency update", "body": "Update, test, open a PR.", "macro": "!deps"},
    )
    updated.raise_for_status()
    assert updated.json()["instructions"] == "Update, test, open a PR."
    assert httpx2.delete(f"{base}/playbooks/{playbook_id}", headers=headers).json()["macro"] == "!deps"
    assert httpx2.get(f"{base}/playbooks/{playbook_id}", headers=headers).status_code == 404
