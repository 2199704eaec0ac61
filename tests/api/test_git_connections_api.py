"""``…/git-connections``: org_admin only, the token write-only (never in a response, never echoed by an error),
one connection per host, other orgs' connections invisible."""

from codeyard.services.principal import Role
from tests.conftest import ApiEnv
from tests.databases import query

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2


async def test_create_list_get_patch_delete(api: ApiEnv) -> None:
    created = await api.client.post(
        api.org_path("/git-connections"),
        headers=api.auth(),
        json={"host": "GitHub.com", "kind": "github", "token": TOKEN, "username": "bot"},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["host"] == "github.com" and body["kind"] == "github" and body["username"] == "bot"
    assert "token" not in body and TOKEN not in created.text
    cid = body["connection_id"]

    listed = await api.client.get("/v3/organizations/git-connections", headers=api.auth())  # the org-less form
    assert [c["connection_id"] for c in listed.json()["items"]] == [cid] and TOKEN not in listed.text
    got = await api.client.get(api.org_path(f"/git-connections/{cid}"), headers=api.auth())
    assert got.json()["connection_id"] == cid and TOKEN not in got.text

    patched = await api.client.patch(
        api.org_path(f"/git-connections/{cid}"),
        headers=api.auth(),
        json={"api_url": "https://ghe.example.com/api/v3", "token": "new-token-value"},
    )
    assert patched.status_code == 200 and patched.json()["api_url"] == "https://ghe.example.com/api/v3"
    assert "new-token-value" not in patched.text
    credentials = await api.services.git_connections.for_host(api.org_id, "github.com")
    assert credentials is not None and credentials.token == "new-token-value"
    assert "new-token-value" not in repr(credentials)

    deleted = await api.client.delete(api.org_path(f"/git-connections/{cid}"), headers=api.auth())
    assert deleted.status_code == 200
    missing = await api.client.get(api.org_path(f"/git-connections/{cid}"), headers=api.auth())
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


async def test_token_is_stored_encrypted(api: ApiEnv) -> None:
    await api.client.post(
        api.org_path("/git-connections"),
        headers=api.auth(),
        json={"host": "gitlab.com", "kind": "gitlab", "token": TOKEN},
    )
    [(stored,)] = query(api.settings.data_dir, "SELECT token FROM git_connections")
    assert TOKEN.encode() not in bytes(stored)  # the column holds ciphertext (on SQLite and on PostgreSQL)
    database = api.settings.data_dir / "codeyard.db"
    if database.exists():  # SQLite: not in the file either (no plaintext left in a page or the journal)
        assert TOKEN.encode() not in database.read_bytes()


async def test_members_cannot_manage_connections(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    for method, path in (("GET", "/git-connections"), ("POST", "/git-connections"), ("DELETE", "/git-connections/x")):
        answer = await api.client.request(
            method, api.org_path(path), headers=api.auth(member), json={"host": "h.example", "token": "t"}
        )
        assert answer.status_code == 403, (method, path, answer.text)


async def test_bad_input_is_a_problem_without_the_token(api: ApiEnv) -> None:
    bad_tokens = ["line\r\nX-Injected: 1", "", "with space", 12345, "x" * 5000]
    for token in bad_tokens:
        answer = await api.client.post(
            api.org_path("/git-connections"), headers=api.auth(), json={"host": "github.com", "token": token}
        )
        assert answer.status_code in (400, 422), answer.text
        assert "X-Injected" not in answer.text and "x" * 100 not in answer.text
    for body in (
        {"host": "not a host/../", "token": "t"},
        {"host": "github.com", "kind": "svn", "token": "t"},
        {"host": "github.com", "api_url": "ftp://x", "token": "t"},
        {"host": "github.com", "api_url": "https://u:p@x", "token": "t"},
        {"host": "github.com", "username": "a:b", "token": "t"},
    ):
        answer = await api.client.post(api.org_path("/git-connections"), headers=api.auth(), json=body)
        assert answer.status_code in (400, 422), (body, answer.text)
    missing_token = await api.client.post(api.org_path("/git-connections"), headers=api.auth(), json={"host": "a.b"})
    assert missing_token.status_code == 422


async def test_one_connection_per_host_and_other_orgs_invisible(api: ApiEnv) -> None:
    body = {"host": "gitea.example.com", "kind": "gitea", "token": "tok-1"}
    first = await api.client.post(api.org_path("/git-connections"), headers=api.auth(), json=body)
    again = await api.client.post(api.org_path("/git-connections"), headers=api.auth(), json=body)
    assert first.status_code == 200 and again.status_code == 409
    other_org, other_key = await api.new_org()
    cid = first.json()["connection_id"]
    for method in ("GET", "PATCH", "DELETE"):
        answer = await api.client.request(
            method, api.org_path(f"/git-connections/{cid}", other_org), headers=api.auth(other_key), json={}
        )
        assert answer.status_code == 404, (method, answer.text)
    listed = await api.client.get(api.org_path("/git-connections", other_org), headers=api.auth(other_key))
    assert listed.json()["items"] == []
    cross = await api.client.get(api.org_path("/git-connections"), headers=api.auth(other_key))
    assert cross.status_code == 403
    # a second host of the same name in another org is fine
    theirs = await api.client.post(api.org_path("/git-connections", other_org), headers=api.auth(other_key), json=body)
    assert theirs.status_code == 200
