"""Text with NUL characters: a 422 naming the field on both databases (PostgreSQL cannot store NUL), never a 500;
text the server stores itself (command output, model replies) keeps everything but the NUL."""

from codeyard.services.sessions import NewSession
from tests.conftest import ApiEnv


async def test_nul_in_a_json_body_is_a_422_naming_the_field(api: ApiEnv) -> None:
    bodies = {
        "/sessions": ({"prompt": "fix\u0000it"}, "prompt"),
        "/knowledge/notes": ({"name": "n", "body": "b", "trigger": "t\u0000"}, "trigger"),
        "/playbooks": ({"title": "t", "body": "b\u0000", "macro": "!m"}, "body"),
        "/secrets": ({"key": "K", "value": "v", "note": "\u0000"}, "note"),
    }
    for suffix, (body, field) in bodies.items():
        response = await api.client.post(api.org_path(suffix), headers=api.auth(), json=body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"][0]
        assert detail["type"] == "string_nul" and "NUL" in detail["msg"]
        assert detail["loc"] == ["body", field]
    response = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "ok", "tags": ["a", "b\u0000"]}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tags", 1]


async def test_nul_in_a_message_path_or_query_is_a_422(api: ApiEnv) -> None:
    created = (await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "hi"})).json()
    sid = created["session_id"]
    response = await api.client.post(
        api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "again\u0000"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "message"]
    response = await api.client.get(api.org_path("/sessions/devin-%00abc"), headers=api.auth())
    assert response.status_code == 422
    response = await api.client.get(api.org_path("/sessions"), headers=api.auth(), params={"tags": "x\u0000"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "tags"]
    # the escaped text "\\u0000" (a backslash, then u0000) is ordinary text
    response = await api.client.post(
        api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "literal \\u0000"}
    )
    assert response.status_code == 200, response.text
    messages = (await api.client.get(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth())).json()
    assert messages["items"][-1]["message"] == "literal \\u0000"


async def test_text_the_runner_stores_loses_only_its_nul_characters(api: ApiEnv) -> None:
    principal = await api.services.identity.authenticate(api.org_key)
    row = await api.services.sessions.create(principal, api.org_id, NewSession(prompt="binary output"))
    runs = api.services.runs
    claimed = await runs.claim_next("host:1:r", 60)
    assert claimed is not None and claimed.id == row.id
    await runs.start(row.id, "host:1:r")
    item = {"role": "tool", "content": "PK\u0003\u0004\u0000\u0000 done"}
    await runs.record(row.id, "host:1:r", [item], devin_message="read\u0000 it")
    history = await runs.history(row.id)
    assert history[-1]["content"] == "PK\u0003\u0004\ufffd\ufffd done"
    page = await api.services.sessions.messages(api.org_id, row.id, after=None, first=10)
    assert page.items[-1].message == "read\ufffd it"
