"""The v1 API (contract §11) over the same data as v3: sessions with ``status_enum`` and ``messages``, the
singular aliases, ``idempotent``, tags, terminate, attachments as a bare string, knowledge, playbooks, secrets,
and the org an enterprise key acts in."""

import time

from sqlalchemy import select

from codeyard.services.principal import Role
from codeyard.services.sessions import apply_state, state_of
from codeyard.storage.tables import AgentSessionRow
from tests.conftest import ApiEnv


async def test_v1_session_flow(api: ApiEnv) -> None:
    created = await api.client.post(
        "/v1/sessions", headers=api.auth(), json={"prompt": "Fix the login bug", "tags": ["a"]}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == {"session_id", "url"}
    session_id = body["session_id"]
    assert session_id.startswith("devin-")
    assert body["url"].endswith("/sessions/" + session_id.removeprefix("devin-"))

    for path in (f"/v1/sessions/{session_id}", f"/v1/session/{session_id}"):
        got = await api.client.get(path, headers=api.auth())
        assert got.status_code == 200, got.text
        detail = got.json()
        assert detail["status_enum"] == "working"
        assert detail["status"] == "new"
        assert detail["tags"] == ["a"]
        assert detail["created_at"].endswith("Z")
        assert detail["pull_request"] is None
        assert [m["type"] for m in detail["messages"]] == ["initial_user_message"]
        assert detail["messages"][0]["message"] == "Fix the login bug"

    # v3 sees the same session; a v1 message reaches its messages.
    sent = await api.client.post(f"/v1/session/{session_id}/message", headers=api.auth(), json={"message": "also docs"})
    assert sent.status_code == 200, sent.text
    assert "detail" in sent.json()
    messages = await api.client.get(api.org_path(f"/sessions/{session_id}/messages"), headers=api.auth())
    assert [m["message"] for m in messages.json()["items"]] == ["Fix the login bug", "also docs"]

    tags = await api.client.put(f"/v1/sessions/{session_id}/tags", headers=api.auth(), json={"tags": ["x", "y"]})
    assert tags.status_code == 200
    listed = await api.client.get("/v1/sessions", headers=api.auth(), params={"limit": 10, "tags": "x"})
    assert [s["session_id"] for s in listed.json()["sessions"]] == [session_id]
    none = await api.client.get("/v1/sessions", headers=api.auth(), params={"tags": "nope"})
    assert none.json() == {"sessions": []}

    gone = await api.client.delete(f"/v1/sessions/{session_id}", headers=api.auth())
    assert gone.status_code == 200
    after = (await api.client.get(f"/v1/sessions/{session_id}", headers=api.auth())).json()
    assert after["status"] == "exit"
    assert after["status_enum"] == "finished"
    refused = await api.client.post(f"/v1/sessions/{session_id}/message", headers=api.auth(), json={"message": "hi"})
    assert refused.status_code == 409


async def test_status_enum_follows_the_lifecycle(api: ApiEnv) -> None:
    session_id = (await api.client.post("/v1/sessions", headers=api.auth(), json={"prompt": "p"})).json()["session_id"]

    async def step(*names: str) -> str:
        async with api.db.write() as s:
            row = await s.scalar(select(AgentSessionRow).where(AgentSessionRow.id == session_id))
            assert row is not None
            state = state_of(row)
            for name in names:
                state = getattr(state, name)()
            await apply_state(s, row, state, time.time())
        got = await api.client.get(f"/v1/sessions/{session_id}", headers=api.auth())
        return str(got.json()["status_enum"])

    assert await step("claim", "start") == "working"
    assert await step("ask_user") == "blocked"


async def test_idempotent_create_returns_the_same_session(api: ApiEnv) -> None:
    first = await api.client.post("/v1/sessions", headers=api.auth(), json={"prompt": "same", "idempotent": True})
    again = await api.client.post("/v1/sessions", headers=api.auth(), json={"prompt": "same", "idempotent": True})
    other = await api.client.post("/v1/sessions", headers=api.auth(), json={"prompt": "other", "idempotent": True})
    assert first.json()["is_new_session"] is True
    assert again.json() == {**first.json(), "is_new_session": False}
    assert other.json()["session_id"] != first.json()["session_id"]
    plain = await api.client.post("/v1/sessions", headers=api.auth(), json={"prompt": "same"})
    assert plain.json()["session_id"] != first.json()["session_id"]


async def test_v1_sessions_stay_in_their_org(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    mine = (await api.client.post("/v1/sessions", headers=api.auth(), json={"prompt": "mine"})).json()["session_id"]
    assert (await api.client.get(f"/v1/sessions/{mine}", headers=api.auth(other_key))).status_code == 404
    assert (await api.client.delete(f"/v1/sessions/{mine}", headers=api.auth(other_key))).status_code == 404
    listed = await api.client.get("/v1/sessions", headers=api.auth(other_key))
    assert listed.json() == {"sessions": []}
    # An enterprise key acts in the org it names, else in the first org.
    theirs = await api.client.post(
        "/v1/sessions", headers=api.auth(api.enterprise_key), params={"org_id": other_org}, json={"prompt": "t"}
    )
    assert theirs.status_code == 200
    listed = await api.client.get("/v1/sessions", headers=api.auth(other_key))
    assert [s["session_id"] for s in listed.json()["sessions"]] == [theirs.json()["session_id"]]
    default = await api.client.get("/v1/sessions", headers=api.auth(api.enterprise_key))
    assert [s["session_id"] for s in default.json()["sessions"]] == [mine]
    unknown = await api.client.get("/v1/sessions", headers=api.auth(api.enterprise_key), params={"org_id": "org-nope"})
    assert unknown.status_code == 404


async def test_v1_pagination_by_offset(api: ApiEnv) -> None:
    ids = [
        (await api.client.post("/v1/sessions", headers=api.auth(), json={"prompt": f"p{i}"})).json()["session_id"]
        for i in range(5)
    ]
    page = await api.client.get("/v1/sessions", headers=api.auth(), params={"limit": 2, "offset": 1})
    assert [s["session_id"] for s in page.json()["sessions"]] == ids[::-1][1:3]
    assert (await api.client.get("/v1/sessions", headers=api.auth(), params={"limit": 0})).status_code == 422


async def test_v1_attachments_knowledge_playbooks_secrets(api: ApiEnv) -> None:
    up = await api.client.post("/v1/attachments", headers=api.auth(), files={"file": ("notes.txt", b"hello")})
    assert up.status_code == 200
    url = up.json()
    assert isinstance(url, str)
    assert "/files/" in url
    assert (await api.client.get(url.removeprefix("http://testserver"))).content == b"hello"

    note = await api.client.post(
        "/v1/knowledge",
        headers=api.auth(),
        json={"name": "Deploys", "body": "make deploy", "trigger_description": "when deploying"},
    )
    assert note.status_code == 200, note.text
    note_id = note.json()["id"]
    assert note.json()["trigger_description"] == "when deploying"
    listed = (await api.client.get("/v1/knowledge", headers=api.auth())).json()
    assert [n["id"] for n in listed["knowledge"]] == [note_id]
    assert listed["folders"] == []
    put = await api.client.put(
        f"/v1/knowledge/{note_id}", headers=api.auth(), json={"name": "D", "body": "b", "trigger_description": "t"}
    )
    assert put.json()["name"] == "D"
    assert (await api.client.delete(f"/v1/knowledge/{note_id}", headers=api.auth())).status_code == 200
    assert (await api.client.get("/v1/knowledge", headers=api.auth())).json()["knowledge"] == []

    playbook = await api.client.post("/v1/playbooks", headers=api.auth(), json={"title": "Release", "body": "steps"})
    assert playbook.status_code == 200, playbook.text
    pid = playbook.json()["playbook_id"]
    assert (await api.client.get(f"/v1/playbooks/{pid}", headers=api.auth())).json()["title"] == "Release"
    assert [p["playbook_id"] for p in (await api.client.get("/v1/playbooks", headers=api.auth())).json()] == [pid]
    assert (await api.client.delete(f"/v1/playbooks/{pid}", headers=api.auth())).status_code == 200

    secret = await api.client.post(
        "/v1/secrets",
        headers=api.auth(),
        json={"type": "key-value", "key": "TOKEN", "value": "s3cr3t", "sensitive": True},
    )
    assert secret.status_code == 200, secret.text
    assert "s3cr3t" not in secret.text
    listed_secrets = (await api.client.get("/v1/secrets", headers=api.auth())).json()
    assert [(s["key"], s["type"]) for s in listed_secrets] == [("TOKEN", "key-value")]
    assert "s3cr3t" not in str(listed_secrets)
    assert (await api.client.delete(f"/v1/secrets/{secret.json()['id']}", headers=api.auth())).status_code == 200


async def test_v1_roles_and_auth(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    assert (await api.client.get("/v1/sessions")).status_code == 401
    assert (await api.client.get("/v1/sessions", headers=api.auth("cog_nope"))).status_code == 401
    assert (await api.client.post("/v1/sessions", headers=api.auth(member), json={"prompt": "ok"})).status_code == 200
    for method, path, body in [
        ("post", "/v1/knowledge", {"name": "n", "body": "b", "trigger_description": "t"}),
        ("post", "/v1/playbooks", {"title": "t", "body": "b"}),
        ("get", "/v1/secrets", None),
        ("post", "/v1/secrets", {"key": "K", "value": "v"}),
    ]:
        response = await getattr(api.client, method)(path, headers=api.auth(member), **({"json": body} if body else {}))
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
