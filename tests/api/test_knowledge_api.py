"""``/knowledge/notes`` and ``/knowledge/folders`` over HTTP (devin-api-reference §6, contract §7)."""

import importlib.util
from typing import Any

import httpx2
import pytest

from codeyard.services.principal import Role
from tests.conftest import ApiEnv, LiveServer

NOTES = "/knowledge/notes"
FOLDERS = "/knowledge/folders"
NOTE_FIELDS = {
    "note_id",
    "name",
    "body",
    "trigger",
    "folder_id",
    "folder_path",
    "is_enabled",
    "pinned_repo",
    "access_type",
    "macro",
    "org_id",
    "created_at",
    "updated_at",
}


def note(**overrides: Any) -> dict[str, Any]:
    return {"name": "Billing", "body": "Round half-even.", "trigger": "when working on billing"} | overrides


async def create_note(api: ApiEnv, key: str | None = None, org: str | None = None, **fields: Any) -> dict[str, Any]:
    response = await api.client.post(api.org_path(NOTES, org), json=note(**fields), headers=api.auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_folder(api: ApiEnv, name: str, parent: str | None = None) -> dict[str, Any]:
    payload = {"name": name} if parent is None else {"name": name, "parent_folder_id": parent}
    response = await api.client.post(api.org_path(FOLDERS), json=payload, headers=api.auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_and_get_note(api: ApiEnv) -> None:
    created = await create_note(api)

    assert set(created) >= NOTE_FIELDS
    assert created["note_id"].startswith("note-")
    assert (created["name"], created["body"], created["trigger"]) == (
        "Billing",
        "Round half-even.",
        "when working on billing",
    )
    assert created["is_enabled"] is True
    assert created["access_type"] == "org"
    assert created["org_id"] == api.org_id
    assert created["folder_id"] is created["pinned_repo"] is created["macro"] is None
    assert created["folder_path"] == ""  # a string at the root: the generated SDK's strict mode wants one
    assert isinstance(created["created_at"], int)
    assert isinstance(created["updated_at"], int)
    fetched = await api.client.get(api.org_path(f"{NOTES}/{created['note_id']}"), headers=api.auth())
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_create_accepts_v1_spellings_and_unicode(api: ApiEnv) -> None:
    folder = await create_folder(api, "Équipe 財務")
    payload = {
        "name": "Facturación 🧾",
        "body": "Redondeo bancario.",
        "trigger_description": "cuando se trabaja en facturación",
        "parent_folder_id": folder["folder_id"],
        "pinned_repo": "acme/billing",
        "macro": "!billing",
        "is_enabled": False,
    }
    response = await api.client.post(api.org_path(NOTES), json=payload, headers=api.auth())

    assert response.status_code == 200, response.text
    created = response.json()
    assert created["name"] == "Facturación 🧾"
    assert created["trigger"] == "cuando se trabaja en facturación"
    assert created["folder_id"] == folder["folder_id"]
    assert created["folder_path"] == "Équipe 財務"
    assert (created["pinned_repo"], created["macro"], created["is_enabled"]) == ("acme/billing", "!billing", False)


async def test_put_replaces_every_field(api: ApiEnv) -> None:
    folder = await create_folder(api, "Ops")
    created = await create_note(
        api, folder_id=folder["folder_id"], pinned_repo="acme/ops", macro="!ops", is_enabled=False
    )
    path = api.org_path(f"{NOTES}/{created['note_id']}")

    response = await api.client.put(
        path, json={"name": "Renamed", "body": "New body", "trigger": "new trigger"}, headers=api.auth()
    )

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["note_id"] == created["note_id"]
    assert (replaced["name"], replaced["body"], replaced["trigger"]) == ("Renamed", "New body", "new trigger")
    assert replaced["folder_id"] is replaced["pinned_repo"] is replaced["macro"] is None
    assert replaced["folder_path"] == ""
    assert replaced["is_enabled"] is True
    assert replaced["created_at"] == created["created_at"]
    assert replaced["updated_at"] >= created["updated_at"]
    assert (await api.client.get(path, headers=api.auth())).json() == replaced


async def test_put_requires_the_full_body(api: ApiEnv) -> None:
    created = await create_note(api)
    response = await api.client.put(
        api.org_path(f"{NOTES}/{created['note_id']}"), json={"name": "Only a name"}, headers=api.auth()
    )
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {("body", "body"), ("body", "trigger")}


async def test_delete_returns_the_note_and_it_is_gone(api: ApiEnv) -> None:
    created = await create_note(api)
    path = api.org_path(f"{NOTES}/{created['note_id']}")

    deleted = await api.client.delete(path, headers=api.auth())

    assert deleted.status_code == 200
    assert deleted.json() == created
    assert (await api.client.get(path, headers=api.auth())).status_code == 404
    assert (await api.client.delete(path, headers=api.auth())).status_code == 404
    listed = await api.client.get(api.org_path(NOTES), headers=api.auth())
    assert listed.json()["items"] == []


async def test_list_paginates_newest_first(api: ApiEnv) -> None:
    ids = [(await create_note(api, name=f"Note {i}"))["note_id"] for i in range(7)]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"first": 3} | ({"after": after} if after else {})
        response = await api.client.get(api.org_path(NOTES), params=params, headers=api.auth())
        assert response.status_code == 200
        page = response.json()
        assert page["total"] == 7
        seen += [item["note_id"] for item in page["items"]]
        pages += 1
        if not page["has_next_page"]:
            assert page["end_cursor"] is None
            break
        after = page["end_cursor"]
    assert pages == 3
    assert seen == list(reversed(ids))


async def test_list_bad_cursor_and_page_size(api: ApiEnv) -> None:
    bad_cursor = await api.client.get(api.org_path(NOTES), params={"after": "nonsense!"}, headers=api.auth())
    assert bad_cursor.status_code == 400
    assert isinstance(bad_cursor.json()["detail"], str)
    too_many = await api.client.get(api.org_path(NOTES), params={"first": 201}, headers=api.auth())
    assert too_many.status_code == 422


async def test_list_filters(api: ApiEnv) -> None:
    eng = await create_folder(api, "Engineering")
    backend = await create_folder(api, "Backend", eng["folder_id"])
    ops = await create_folder(api, "Ops")
    in_eng = await create_note(api, name="Style", body="Use ruff.", trigger="python", folder_id=eng["folder_id"])
    in_backend = await create_note(api, name="DB", body="Postgres 16.", trigger="sql", folder_id=backend["folder_id"])
    in_ops = await create_note(
        api, name="Deploys", body="100% uptime", trigger="DEPLOY", folder_id=ops["folder_id"], pinned_repo="Acme/Ops"
    )
    at_root = await create_note(api, name="Root", body="plain", trigger="root_percent")

    async def ids(**params: str) -> set[str]:
        response = await api.client.get(api.org_path(NOTES), params=params, headers=api.auth())
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == len(page["items"])
        return {item["note_id"] for item in page["items"]}

    assert await ids(search="ruff") == {in_eng["note_id"]}  # body
    assert await ids(search="dEpLoY") == {in_ops["note_id"]}  # name and trigger, any case
    assert await ids(search="db") == {in_backend["note_id"]}  # name
    assert await ids(search="%") == {in_ops["note_id"]}  # a literal percent sign, not a wildcard
    assert await ids(search="_percent") == {at_root["note_id"]}
    assert await ids(folder_path="Engineering") == {in_eng["note_id"], in_backend["note_id"]}
    assert await ids(folder_path="/Engineering/Backend/") == {in_backend["note_id"]}
    assert await ids(folder_path="Engineer") == set()
    assert await ids(pinned_repo="acme/ops") == {in_ops["note_id"]}
    assert await ids(search="ruff", folder_path="Ops") == set()


async def test_folders_tree_counts_and_paths(api: ApiEnv) -> None:
    eng = await create_folder(api, "Engineering")
    backend = await create_folder(api, "Backend", eng["folder_id"])
    assert backend == {
        "folder_id": backend["folder_id"],
        "name": "Backend",
        "note_count": 0,
        "parent_folder_id": eng["folder_id"],
        "path": "Engineering/Backend",
    }
    await create_note(api, folder_id=backend["folder_id"])
    await create_note(api, folder_id=backend["folder_id"])
    await create_note(api, folder_id=eng["folder_id"])
    await create_note(api)
    backend_note = await create_note(api, folder_id=backend["folder_id"])
    assert backend_note["folder_path"] == "Engineering/Backend"

    response = await api.client.get(api.org_path(FOLDERS), headers=api.auth())

    assert response.status_code == 200
    tree = response.json()
    assert tree["root_note_count"] == 1
    by_path = {f["path"]: f for f in tree["folders"]}
    assert set(by_path) == {"Engineering", "Engineering/Backend"}
    assert by_path["Engineering"]["note_count"] == 1
    assert by_path["Engineering"]["parent_folder_id"] is None
    assert by_path["Engineering/Backend"]["note_count"] == 3


async def test_folder_errors(api: ApiEnv) -> None:
    await create_folder(api, "Ops")
    post = api.org_path(FOLDERS)

    duplicate = await api.client.post(post, json={"name": "ops"}, headers=api.auth())
    assert duplicate.status_code == 409
    slash = await api.client.post(post, json={"name": "a/b"}, headers=api.auth())
    assert slash.status_code == 422
    assert slash.json()["detail"][0]["loc"] == ["body", "name"]
    blank = await api.client.post(post, json={"name": "   "}, headers=api.auth())
    assert blank.status_code == 422
    orphan = await api.client.post(post, json={"name": "x", "parent_folder_id": "folder-nope"}, headers=api.auth())
    assert orphan.status_code == 422
    assert orphan.json()["detail"][0]["loc"] == ["body", "parent_folder_id"]


async def test_note_folder_must_exist_in_the_org(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    foreign = await api.client.post(
        api.org_path(FOLDERS, other_org), json={"name": "Theirs"}, headers=api.auth(other_key)
    )
    assert foreign.status_code == 200

    for folder_id in ("folder-missing", foreign.json()["folder_id"]):
        response = await api.client.post(api.org_path(NOTES), json=note(folder_id=folder_id), headers=api.auth())
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "folder_id"]


BAD_NOTES: list[tuple[dict[str, Any], str]] = [
    (note(name=""), "name"),
    (note(name="   "), "name"),
    (note(name="x" * 501), "name"),
    (note(name=5), "name"),
    (note(body=""), "body"),
    (note(body="b" * 100_001), "body"),
    (note(trigger="t" * 2001), "trigger"),
    (note(is_enabled="sometimes"), "is_enabled"),
    (note(folder_id=["folder-1"]), "folder_id"),
    (note(pinned_repo="r" * 513), "pinned_repo"),
    (note(macro="billing"), "macro"),
    (note(macro="!bill ing"), "macro"),
    ({"name": "n", "body": "b"}, "trigger"),
]


async def test_create_rejects_bad_input(api: ApiEnv) -> None:
    for payload, field in BAD_NOTES:
        response = await api.client.post(api.org_path(NOTES), json=payload, headers=api.auth())
        assert response.status_code == 422, (field, response.text)
        assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert (await api.client.get(api.org_path(NOTES), headers=api.auth())).json()["total"] == 0


async def test_authentication_and_permissions(api: ApiEnv) -> None:
    created = await create_note(api)
    folder = await create_folder(api, "Shared")
    note_path = api.org_path(f"{NOTES}/{created['note_id']}")
    member = api.auth(await api.key(Role.ORG_MEMBER))

    assert (await api.client.get(api.org_path(NOTES))).status_code == 401
    assert (await api.client.get(note_path, headers={"Authorization": "Bearer cog_wrong"})).status_code == 401

    assert (await api.client.get(api.org_path(NOTES), headers=member)).status_code == 200
    assert (await api.client.get(note_path, headers=member)).json()["note_id"] == created["note_id"]
    assert (await api.client.get(api.org_path(FOLDERS), headers=member)).json()["folders"][0] == folder

    assert (await api.client.post(api.org_path(NOTES), json=note(), headers=member)).status_code == 403
    assert (await api.client.put(note_path, json=note(), headers=member)).status_code == 403
    assert (await api.client.delete(note_path, headers=member)).status_code == 403
    assert (await api.client.post(api.org_path(FOLDERS), json={"name": "M"}, headers=member)).status_code == 403
    assert (await api.client.get(note_path, headers=member)).json() == created  # unchanged


async def test_another_orgs_note_is_not_found(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    theirs = await create_note(api, key=other_key, org=other_org, name="Their private note")
    ours = api.org_path(f"{NOTES}/{theirs['note_id']}")

    for response in (
        await api.client.get(ours, headers=api.auth()),
        await api.client.put(ours, json=note(), headers=api.auth()),
        await api.client.delete(ours, headers=api.auth()),
    ):
        assert response.status_code == 404
        assert "Their private note" not in response.text
    listed = await api.client.get(api.org_path(NOTES), headers=api.auth())
    assert listed.json()["total"] == 0
    cross = await api.client.get(api.org_path(f"{NOTES}/{theirs['note_id']}", other_org), headers=api.auth())
    assert cross.status_code == 403
    still_there = await api.client.get(
        api.org_path(f"{NOTES}/{theirs['note_id']}", other_org), headers=api.auth(other_key)
    )
    assert still_there.json() == theirs


async def test_org_key_may_omit_the_org_segment(api: ApiEnv) -> None:
    created = await create_note(api)
    response = await api.client.get(f"/v3/organizations{NOTES}/{created['note_id']}", headers=api.auth())
    assert response.status_code == 200
    assert response.json() == created


needs_cli = pytest.mark.skipif(
    importlib.util.find_spec("codeyard.cli.main") is None, reason="`codeyard serve` (codeyard.cli.main) not built yet"
)


@needs_cli
def test_common_flow_against_a_live_server(live_server: LiveServer) -> None:
    """The documented flow, the way a user's script does it: plain HTTP calls with the org key."""
    base = f"{live_server.url}/v3/organizations/{live_server.org_id}"
    headers = {"Authorization": f"Bearer {live_server.org_key}", "Content-Type": "application/json"}

    created = httpx2.post(
        f"{base}/knowledge/notes",
        headers=headers,
        json={
            "name": "Coding standards",
            "trigger_description": "When writing code in this repo",
            "body": "Use TypeScript strict mode. Follow the existing code style.",
        },
    )
    created.raise_for_status()
    note_id = created.json()["note_id"]
    assert created.json()["trigger"] == "When writing code in this repo"

    notes = httpx2.get(f"{base}/knowledge/notes", headers=headers).json()["items"]
    assert [n["name"] for n in notes] == ["Coding standards"]

    updated = httpx2.put(
        f"{base}/knowledge/notes/{note_id}",
        headers=headers,
        json={"name": "Coding standards", "trigger": "When writing code", "body": "Use strict mode everywhere."},
    )
    updated.raise_for_status()
    assert updated.json()["body"] == "Use strict mode everywhere."
    assert httpx2.get(f"{base}/knowledge/notes/{note_id}", headers=headers).json()["trigger"] == "When writing code"

    deleted = httpx2.delete(f"{base}/knowledge/notes/{note_id}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["note_id"] == note_id
    assert httpx2.get(f"{base}/knowledge/notes/{note_id}", headers=headers).status_code == 404
    folders = httpx2.get(f"{base}/knowledge/folders", headers=headers).json()
    assert folders == {"folders": [], "root_note_count": 0}
