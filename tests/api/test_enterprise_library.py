"""Enterprise-wide knowledge notes and playbooks (issue 13 §2, devin-api-reference §6 and §7): made by an enterprise
admin under ``/v3/enterprise``, used by every organization's sessions beside the org's own, and the enterprise
view of both kinds."""

from typing import Any

from codeyard.services.principal import Role
from tests.conftest import ApiEnv

NOTES = "/v3/enterprise/knowledge/notes"
PLAYBOOKS = "/v3/enterprise/playbooks"


async def _post(api: ApiEnv, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    r = await api.client.post(path, headers=api.auth(key), json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_only_an_enterprise_admin_reaches_the_enterprise_library(api: ApiEnv) -> None:
    note = {"name": "n", "body": "b", "trigger": "t"}
    for key in (api.org_key, await api.key(Role.ORG_MEMBER)):
        for method, path, body in (
            ("GET", NOTES, None),
            ("POST", NOTES, note),
            ("GET", PLAYBOOKS, None),
            ("POST", PLAYBOOKS, {"title": "t", "body": "b"}),
        ):
            r = await api.client.request(method, path, headers=api.auth(key), json=body)
            assert r.status_code == 403, (method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
    assert (await api.client.get(NOTES, headers=api.auth(api.enterprise_key))).json()["items"] == []


async def test_enterprise_notes_reach_every_org_and_stay_out_of_org_lists(api: ApiEnv) -> None:
    ent = api.enterprise_key
    shared = await _post(
        api,
        NOTES,
        {"name": "Deploys", "body": "Use the blue pipeline.", "trigger": "when deploying the billing service"},
        ent,
    )
    assert (shared["access_type"], shared["org_id"]) == ("enterprise", None)
    own = await _post(api, api.org_path("/knowledge/notes"), {"name": "Lint", "body": "ruff", "trigger": "linting"})
    other_org, other_key = await api.new_org()
    foreign = await _post(
        api, api.org_path("/knowledge/notes", other_org), {"name": "X", "body": "y", "trigger": "z"}, other_key
    )

    # A session of either org is given the enterprise note when its task matches the trigger.
    for org in (api.org_id, other_org):
        notes = await api.services.knowledge.session_notes(org, "Deploy the billing service today", [], None)
        assert [n.note_id for n in notes.given] == [shared["note_id"]]
    # Chosen by id: an enterprise note is the org's to use, another org's note is not.
    r = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "knowledge_ids": [shared["note_id"]]}
    )
    assert r.status_code == 200, r.text
    r = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "knowledge_ids": [foreign["note_id"]]}
    )
    assert r.status_code == 422

    # The org's own list and paths are the org's notes only.
    listed = (await api.client.get(api.org_path("/knowledge/notes"), headers=api.auth())).json()["items"]
    assert [n["note_id"] for n in listed] == [own["note_id"]]
    r = await api.client.get(api.org_path(f"/knowledge/notes/{shared['note_id']}"), headers=api.auth())
    assert r.status_code == 404

    # The enterprise view holds all three; access_type narrows it.
    view = (await api.client.get(NOTES, headers=api.auth(ent))).json()
    assert {n["note_id"] for n in view["items"]} == {shared["note_id"], own["note_id"], foreign["note_id"]}
    assert view["total"] == 3
    only = (await api.client.get(NOTES, headers=api.auth(ent), params={"access_type": "enterprise"})).json()
    assert [n["note_id"] for n in only["items"]] == [shared["note_id"]]
    orgs = (await api.client.get(NOTES, headers=api.auth(ent), params={"access_type": "org"})).json()
    assert {n["note_id"] for n in orgs["items"]} == {own["note_id"], foreign["note_id"]}
    bad = await api.client.get(NOTES, headers=api.auth(ent), params={"access_type": "team"})
    assert bad.status_code == 422

    # Replace and delete by id.
    path = f"{NOTES}/{shared['note_id']}"
    replaced = await api.client.put(
        path, headers=api.auth(ent), json={"name": "Deploys", "body": "Use the green pipeline.", "trigger": "deploy"}
    )
    assert replaced.status_code == 200 and replaced.json()["body"] == "Use the green pipeline."
    assert replaced.json()["access_type"] == "enterprise"
    assert (await api.client.delete(path, headers=api.auth(ent))).json()["note_id"] == shared["note_id"]
    assert (await api.client.get(path, headers=api.auth(ent))).status_code == 404
    notes = await api.services.knowledge.session_notes(api.org_id, "Deploy the billing service today", [], None)
    assert notes.given == []


async def test_enterprise_playbooks_by_id_and_macro_with_the_orgs_own_first(api: ApiEnv) -> None:
    ent = api.enterprise_key
    shared = await _post(api, PLAYBOOKS, {"title": "Release", "body": "Tag and ship.", "macro": "!release"}, ent)
    assert (shared["access_type"], shared["org_id"]) == ("enterprise", None)
    again = await api.client.post(
        PLAYBOOKS, headers=api.auth(ent), json={"title": "x", "body": "y", "macro": "!release"}
    )
    assert again.status_code == 409

    by_macro = await _post(api, api.org_path("/sessions"), {"prompt": "Please !release the app"})
    assert by_macro["playbook_id"] == shared["playbook_id"]
    by_id = await _post(api, api.org_path("/sessions"), {"prompt": "go", "playbook_id": shared["playbook_id"]})
    assert by_id["playbook_id"] == shared["playbook_id"]
    row = await api.services.sessions.get(api.org_id, by_id["session_id"])
    assert (await api.services.playbooks.usable(api.org_id, row.playbook_id or "")).body == "Tag and ship."

    own = await _post(api, api.org_path("/playbooks"), {"title": "Ours", "body": "Our way.", "macro": "!release"})
    assert (await _post(api, api.org_path("/sessions"), {"prompt": "!release"}))["playbook_id"] == own["playbook_id"]

    other_org, other_key = await api.new_org()
    theirs = await _post(api, api.org_path("/playbooks", other_org), {"title": "T", "body": "b"}, other_key)
    r = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "playbook_id": theirs["playbook_id"]}
    )
    assert r.status_code == 422

    view = (await api.client.get(PLAYBOOKS, headers=api.auth(ent))).json()
    assert {p["playbook_id"] for p in view["items"]} == {
        shared["playbook_id"],
        own["playbook_id"],
        theirs["playbook_id"],
    }
    only = (await api.client.get(PLAYBOOKS, headers=api.auth(ent), params={"access_type": "enterprise"})).json()
    assert [p["playbook_id"] for p in only["items"]] == [shared["playbook_id"]]
    listed = (await api.client.get(api.org_path("/playbooks"), headers=api.auth())).json()["items"]
    assert [p["playbook_id"] for p in listed] == [own["playbook_id"]]

    path = f"{PLAYBOOKS}/{shared['playbook_id']}"
    r = await api.client.put(path, headers=api.auth(ent), json={"title": "Release", "body": "Ship.", "macro": "!ship"})
    assert r.status_code == 200 and r.json()["macro"] == "!ship"
    assert (await api.client.delete(path, headers=api.auth(ent))).status_code == 200
    assert (await api.client.get(path, headers=api.auth(ent))).status_code == 404
