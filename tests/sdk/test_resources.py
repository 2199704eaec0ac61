"""Knowledge, playbooks, secrets and schedules: the request each method sends and what it returns."""

from datetime import UTC, datetime
from typing import Any

from codeyard.sdk import Client
from tests.sdk.fake_api import ORG, FakeAPI, Reply, page_json

BASE = f"/v3/organizations/{ORG}"
NOTE = {
    "note_id": "note-1",
    "name": "deploys",
    "body": "Use make deploy.",
    "trigger": "deploy release",
    "folder_id": None,
    "folder_path": None,
    "is_enabled": True,
    "pinned_repo": None,
    "access_type": "org",
    "macro": None,
    "org_id": ORG,
    "created_at": 1,
    "updated_at": 2,
}
PLAYBOOK = {"playbook_id": "playbook-1", "title": "Deploy", "body": "steps", "macro": "!deploy", "name": "Deploy"}
SECRET = {"secret_id": "secret-1", "key": "TOKEN", "secret_type": "key-value", "is_sensitive": True, "created_at": 3}
SCHEDULE: dict[str, Any] = {"scheduled_session_id": "sched-1", "prompt": "nightly", "enabled": True}


def test_knowledge_notes(api: FakeAPI, client: Client) -> None:
    api.on("GET", f"{BASE}/knowledge/notes", Reply(json=page_json([NOTE])))
    api.on("POST", f"{BASE}/knowledge/notes", Reply(json=NOTE))
    api.on("PUT", f"{BASE}/knowledge/notes/note-1", Reply(json={**NOTE, "is_enabled": False}))
    api.on("DELETE", f"{BASE}/knowledge/notes/note-1", Reply(json=NOTE))

    listed = client.knowledge.notes.list(search="deploy", pinned_repo="acme/app")
    client.knowledge.notes.create(name="deploys", body="Use make deploy.", trigger="deploy release")
    updated = client.knowledge.notes.update("note-1", name="d", body="b", trigger="t", is_enabled=False)
    deleted = client.knowledge.notes.delete("note-1")

    request = api.requests_to("GET", f"{BASE}/knowledge/notes")[0]
    assert (request.params("search"), request.params("pinned_repo")) == (["deploy"], ["acme/app"])
    assert listed.items[0].trigger == "deploy release"
    assert api.requests_to("POST", f"{BASE}/knowledge/notes")[0].json() == {
        "name": "deploys",
        "body": "Use make deploy.",
        "trigger": "deploy release",
    }
    assert api.requests_to("PUT", f"{BASE}/knowledge/notes/note-1")[0].json() == {
        "name": "d",
        "body": "b",
        "trigger": "t",
        "is_enabled": False,
    }
    assert updated.is_enabled is False
    assert deleted.note_id == "note-1"


def test_knowledge_folders(api: FakeAPI, client: Client) -> None:
    folder = {"folder_id": "f-2", "name": "ops", "note_count": 0, "parent_folder_id": "f-1", "path": "infra/ops"}
    api.on("GET", f"{BASE}/knowledge/folders", Reply(json={"folders": [folder], "root_note_count": 4}))
    api.on("POST", f"{BASE}/knowledge/folders", Reply(json=folder))

    folders = client.knowledge.folders.list()
    created = client.knowledge.folders.create(name="ops", parent_folder_id="f-1")

    assert (folders.root_note_count, folders.folders[0].path) == (4, "infra/ops")
    assert api.requests_to("POST", f"{BASE}/knowledge/folders")[0].json() == {"name": "ops", "parent_folder_id": "f-1"}
    assert created.folder_id == "f-2"


def test_playbooks(api: FakeAPI, client: Client) -> None:
    api.on("POST", f"{BASE}/playbooks", Reply(json=PLAYBOOK))
    api.on("PUT", f"{BASE}/playbooks/playbook-1", Reply(json=PLAYBOOK))
    api.on("GET", f"{BASE}/playbooks/playbook-1", Reply(json=PLAYBOOK))
    api.on("DELETE", f"{BASE}/playbooks/playbook-1", Reply(json=PLAYBOOK))

    created = client.playbooks.create(title="Deploy", body="steps", macro="!deploy")
    client.playbooks.update("playbook-1", title="Deploy", body="new steps")
    fetched = client.playbooks.get("playbook-1")
    client.playbooks.delete("playbook-1")

    assert api.requests_to("POST", f"{BASE}/playbooks")[0].json() == {
        "title": "Deploy",
        "body": "steps",
        "macro": "!deploy",
    }
    assert api.requests_to("PUT", f"{BASE}/playbooks/playbook-1")[0].json() == {"title": "Deploy", "body": "new steps"}
    assert created.macro == fetched.macro == "!deploy"
    assert fetched.model_extra == {"name": "Deploy"}
    assert len(api.requests_to("DELETE", f"{BASE}/playbooks/playbook-1")) == 1


def test_secrets(api: FakeAPI, client: Client) -> None:
    api.on("POST", f"{BASE}/secrets", Reply(json=SECRET))
    api.on("GET", f"{BASE}/secrets", Reply(json=page_json([SECRET])))
    api.on("DELETE", f"{BASE}/secrets/secret-1", Reply(json=SECRET))

    created = client.secrets.create(key="TOKEN", value="s3cr3t", note="CI token")
    listed = client.secrets.list()
    deleted = client.secrets.delete("secret-1")

    assert api.requests_to("POST", f"{BASE}/secrets")[0].json() == {
        "key": "TOKEN",
        "type": "key-value",
        "value": "s3cr3t",
        "is_sensitive": True,
        "note": "CI token",
    }
    assert created.secret_id == listed.items[0].secret_id == deleted.secret_id == "secret-1"


def test_schedules(api: FakeAPI, client: Client) -> None:
    api.on("POST", f"{BASE}/schedules", Reply(json=SCHEDULE))
    api.on("PATCH", f"{BASE}/schedules/sched-1", Reply(json={**SCHEDULE, "enabled": False}))
    api.on("GET", f"{BASE}/schedules/sched-1", Reply(json=SCHEDULE))
    api.on("DELETE", f"{BASE}/schedules/sched-1", Reply(json=SCHEDULE))

    client.schedules.create(prompt="nightly", frequency="0 2 * * *", timezone="Europe/Paris", tags=["n"])
    client.schedules.create(
        prompt="once", schedule_type="one_time", scheduled_at=datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
    )
    updated = client.schedules.update("sched-1", enabled=False, playbook_id=None)
    client.schedules.get("sched-1")
    client.schedules.delete("sched-1")

    recurring, once = (r.json() for r in api.requests_to("POST", f"{BASE}/schedules"))
    assert recurring == {"prompt": "nightly", "frequency": "0 2 * * *", "timezone": "Europe/Paris", "tags": ["n"]}
    assert once == {"prompt": "once", "schedule_type": "one_time", "scheduled_at": "2030-01-01T09:30:00+00:00"}
    assert api.requests_to("PATCH", f"{BASE}/schedules/sched-1")[0].json() == {"enabled": False, "playbook_id": None}
    assert updated.enabled is False
    assert len(api.requests_to("DELETE", f"{BASE}/schedules/sched-1")) == 1
