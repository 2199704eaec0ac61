"""``/secrets`` over HTTP (devin-api-reference §8.1, contract §7): write-only values, encrypted at rest."""

from typing import Any

from sqlalchemy import text

from codeyard.services.principal import Role
from tests.conftest import ApiEnv

SECRETS = "/secrets"
VALUE = "s3cr3t-Value-that-must-never-leak-8c1f"
RESPONSE_FIELDS = {"secret_id", "key", "secret_type", "is_sensitive", "note", "access_type", "created_at", "created_by"}


def secret(**overrides: Any) -> dict[str, Any]:
    return {"key": "NPM_TOKEN", "value": VALUE} | overrides


async def create_secret(
    api: ApiEnv, api_key: str | None = None, org: str | None = None, **fields: Any
) -> dict[str, Any]:
    response = await api.client.post(api.org_path(SECRETS, org), json=secret(**fields), headers=api.auth(api_key))
    assert response.status_code == 200, response.text
    assert VALUE not in response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_list_delete(api: ApiEnv) -> None:
    created = await create_secret(api, note="for the registry")
    me = (await api.client.get("/v3/self", headers=api.auth())).json()

    assert set(created) == RESPONSE_FIELDS
    assert created["secret_id"].startswith("secret-")
    assert (created["key"], created["secret_type"], created["is_sensitive"]) == ("NPM_TOKEN", "key-value", True)
    assert (created["note"], created["access_type"]) == ("for the registry", "org")
    assert created["created_by"] == me["service_user_id"]
    assert isinstance(created["created_at"], int)

    listed = await api.client.get(api.org_path(SECRETS), headers=api.auth())
    assert listed.status_code == 200
    assert listed.json()["items"] == [created]
    assert VALUE not in listed.text

    path = api.org_path(f"{SECRETS}/{created['secret_id']}")
    deleted = await api.client.delete(path, headers=api.auth())
    assert deleted.status_code == 200
    assert deleted.json() == created
    assert VALUE not in deleted.text
    assert (await api.client.delete(path, headers=api.auth())).status_code == 404
    assert (await api.client.get(api.org_path(SECRETS), headers=api.auth())).json()["total"] == 0
    assert await api.services.secrets.resolve(api.org_id, None) == []


async def test_types_aliases_and_flags(api: ApiEnv) -> None:
    cookie = await create_secret(api, key="SESSION_COOKIE", type="cookie", is_sensitive=False)
    totp = await create_secret(api, key="GITHUB_TOTP", type="totp")
    dictionary = await create_secret(api, key="DB", type="dictionary", sensitive=False)  # v1's spelling

    assert (cookie["secret_type"], cookie["is_sensitive"]) == ("cookie", False)
    assert (totp["secret_type"], totp["is_sensitive"]) == ("totp", True)
    assert (dictionary["secret_type"], dictionary["is_sensitive"]) == ("dictionary", False)


async def test_value_is_encrypted_at_rest_and_resolves(api: ApiEnv) -> None:
    created = await create_secret(api)

    async with api.db.read() as s:
        stored = (
            await s.execute(text("SELECT value FROM secrets WHERE id = :id"), {"id": created["secret_id"]})
        ).scalar_one()
    assert isinstance(stored, bytes)
    assert VALUE.encode() not in stored
    if api.db.is_sqlite:  # PostgreSQL's files are the server's; the stored value above is what it holds
        database_files = list(api.settings.data_dir.glob("codeyard.db*"))  # the database and its WAL
        assert database_files
        assert all(VALUE.encode() not in path.read_bytes() for path in database_files)

    resolved = await api.services.secrets.resolve(api.org_id, [created["secret_id"]])
    assert [(r.key, r.value, r.is_sensitive) for r in resolved] == [("NPM_TOKEN", VALUE, True)]
    assert VALUE not in repr(resolved)


async def test_resolve_selects_the_sessions_secrets(api: ApiEnv) -> None:
    first = await create_secret(api, key="FIRST", value="one")
    second = await create_secret(api, key="SECOND", value="two", is_sensitive=False)
    other_org, other_key = await api.new_org()
    foreign = await create_secret(api, api_key=other_key, org=other_org, value="theirs")
    secrets = api.services.secrets

    everything = await secrets.resolve(api.org_id, None)
    assert [(r.key, r.value, r.is_sensitive) for r in everything] == [("FIRST", "one", True), ("SECOND", "two", False)]
    assert await secrets.resolve(api.org_id, []) == []
    chosen = await secrets.resolve(api.org_id, [second["secret_id"], foreign["secret_id"], "secret-gone"])
    assert [r.key for r in chosen] == ["SECOND"]
    assert [r.key for r in await secrets.resolve(api.org_id, [first["secret_id"]])] == ["FIRST"]


async def test_duplicate_key_conflicts_within_an_org_only(api: ApiEnv) -> None:
    await create_secret(api)

    duplicate = await api.client.post(api.org_path(SECRETS), json=secret(value="another"), headers=api.auth())
    assert duplicate.status_code == 409
    assert "NPM_TOKEN" in duplicate.json()["detail"]
    other_case = await create_secret(api, key="npm_token")  # environment variables are case-sensitive
    assert other_case["key"] == "npm_token"
    other_org, other_key = await api.new_org()
    elsewhere = await create_secret(api, api_key=other_key, org=other_org)
    assert elsewhere["key"] == "NPM_TOKEN"


async def test_key_must_be_an_environment_variable_name(api: ApiEnv) -> None:
    for key in ("1PASSWORD", "MY-KEY", "MY KEY", "", "ключ", "A" * 257, "PATH=x", "$HOME"):
        response = await api.client.post(api.org_path(SECRETS), json=secret(key=key), headers=api.auth())
        assert response.status_code == 422, key
        error = response.json()["detail"][0]
        assert error["loc"] == ["body", "key"]
        assert "environment variable" in error["msg"]
        assert VALUE not in response.text
    for key in ("_PRIVATE", "a", "X" * 256, "aws_secret_access_key2"):
        assert (await create_secret(api, key=key))["key"] == key


async def test_bad_values_are_rejected_without_echoing_them(api: ApiEnv) -> None:
    huge = "v" * (64 * 1024) + "LEAK-MARKER"
    for value, needle in ((huge, "LEAK-MARKER"), (123456789, "123456789"), ({"nested": VALUE}, VALUE), ("", None)):
        response = await api.client.post(api.org_path(SECRETS), json=secret(value=value), headers=api.auth())
        assert response.status_code == 422, value
        assert response.json()["detail"][0]["loc"] == ["body", "value"]
        if needle:
            assert needle not in response.text
    missing = await api.client.post(api.org_path(SECRETS), json={"key": "K"}, headers=api.auth())
    assert missing.status_code == 422
    assert ["body", "value"] in [e["loc"] for e in missing.json()["detail"]]
    multibyte = "é" * (32 * 1024 + 1)  # 64 KiB + 2 bytes of UTF-8
    too_many_bytes = await api.client.post(api.org_path(SECRETS), json=secret(value=multibyte), headers=api.auth())
    assert too_many_bytes.status_code == 422
    exactly = await create_secret(api, key="BIG", value="x" * (64 * 1024))
    assert exactly["key"] == "BIG"


async def test_other_bad_fields(api: ApiEnv) -> None:
    cases = [
        (secret(type="password"), "type"),
        (secret(type=None), "type"),
        (secret(is_sensitive="perhaps"), "is_sensitive"),
        (secret(note="n" * 2001), "note"),
        (secret(key=7), "key"),
    ]
    for payload, field in cases:
        response = await api.client.post(api.org_path(SECRETS), json=payload, headers=api.auth())
        assert response.status_code == 422, payload
        assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
        assert VALUE not in response.text
    assert (await api.client.get(api.org_path(SECRETS), headers=api.auth())).json()["total"] == 0


async def test_list_paginates_newest_first(api: ApiEnv) -> None:
    ids = [(await create_secret(api, key=f"KEY_{i}"))["secret_id"] for i in range(5)]
    seen: list[str] = []
    after = None
    for _ in range(3):
        params = {"first": 2} | ({"after": after} if after else {})
        page = (await api.client.get(api.org_path(SECRETS), params=params, headers=api.auth())).json()
        assert page["total"] == 5
        seen += [s["secret_id"] for s in page["items"]]
        after = page["end_cursor"]
    assert after is None
    assert seen == list(reversed(ids))


async def test_every_endpoint_needs_manage_secrets(api: ApiEnv) -> None:
    created = await create_secret(api)
    path = api.org_path(f"{SECRETS}/{created['secret_id']}")
    member = api.auth(await api.key(Role.ORG_MEMBER))

    assert (await api.client.get(api.org_path(SECRETS))).status_code == 401
    assert (await api.client.post(api.org_path(SECRETS), json=secret(key="X"))).status_code == 401
    assert (await api.client.delete(path)).status_code == 401
    for response in (
        await api.client.get(api.org_path(SECRETS), headers=member),
        await api.client.post(api.org_path(SECRETS), json=secret(key="MEMBER"), headers=member),
        await api.client.delete(path, headers=member),
    ):
        assert response.status_code == 403
        assert "NPM_TOKEN" not in response.text
    enterprise = await api.client.get(api.org_path(SECRETS), headers=api.auth(api.enterprise_key))
    assert [s["secret_id"] for s in enterprise.json()["items"]] == [created["secret_id"]]


async def test_another_orgs_secret_is_not_found(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    theirs = await create_secret(api, api_key=other_key, org=other_org)
    ours = api.org_path(f"{SECRETS}/{theirs['secret_id']}")

    response = await api.client.delete(ours, headers=api.auth())

    assert response.status_code == 404
    assert (await api.client.get(api.org_path(SECRETS), headers=api.auth())).json()["items"] == []
    cross = await api.client.delete(api.org_path(f"{SECRETS}/{theirs['secret_id']}", other_org), headers=api.auth())
    assert cross.status_code == 403
    survivors = await api.client.get(api.org_path(SECRETS, other_org), headers=api.auth(other_key))
    assert [s["secret_id"] for s in survivors.json()["items"]] == [theirs["secret_id"]]
