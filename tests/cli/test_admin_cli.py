"""``codeyard admin`` (contract §2): organizations, service users and keys on the database, no server needed; a
key it makes works against the API served on the same data dir."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from codeyard.api.app import create_app
from codeyard.cli.admin import admin_app
from codeyard.cli.server import prepare
from tests.conftest import make_settings
from tests.databases import database_url_for

runner = CliRunner()


def db_env(data_dir: Path) -> dict[str, str] | None:
    """The admin command's database: the data dir's SQLite file, or the test's PostgreSQL database."""
    url = database_url_for(data_dir)
    return {"CODEYARD_DATABASE_URL": url} if url else None


def admin(data_dir: Path, *args: str, ok: bool = True) -> Any:
    """Run ``codeyard admin … --data-dir`` and return its parsed ``--json`` output (or the result on failure)."""
    result = runner.invoke(admin_app, [*args, "--json", "--data-dir", str(data_dir)], env=db_env(data_dir))
    if not ok:
        assert result.exit_code == 1, result.output
        return result
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def call_api(data_dir: Path, key: str, method: str, path: str, body: Any = None) -> httpx2.Response:
    """One request to the app served in-process on ``data_dir``."""

    async def go() -> httpx2.Response:
        settings = make_settings(data_dir)
        db, services = await prepare(settings)
        try:
            transport = httpx2.ASGITransport(app=create_app(settings, services))
            async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, path, headers={"Authorization": f"Bearer {key}"}, json=body)
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_orgs_create_and_list(tmp_path: Path) -> None:
    created = admin(tmp_path, "orgs", "create", "research")
    assert set(created) == {"org_id", "name", "created_at"}
    assert created["org_id"].startswith("org-") and created["name"] == "research"
    admin(tmp_path, "orgs", "create", "ops")
    listed = admin(tmp_path, "orgs", "list")
    assert [o["name"] for o in listed] == ["research", "ops"]
    assert listed[0] == created

    table = runner.invoke(admin_app, ["orgs", "list", "--data-dir", str(tmp_path)], env=db_env(tmp_path))
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ORG_ID", "NAME", "CREATED_AT"]
    assert [r.split()[1] for r in rows] == ["research", "ops"]


@pytest.mark.parametrize("role", ["org_member", "org_admin", "enterprise_admin"])
def test_service_user_with_each_role_gets_a_working_key(tmp_path: Path, role: str) -> None:
    org = admin(tmp_path, "orgs", "create", "team")["org_id"]
    scope = [] if role == "enterprise_admin" else ["--org", org]
    user = admin(tmp_path, "service-users", "create", f"{role}-bot", "--role", role, *scope)
    assert user["role"] == role
    assert user["org_id"] == (None if role == "enterprise_admin" else org)
    assert user["service_user_id"].startswith("service-user-")
    assert user["api_key"].startswith("cog_") and user["expires_at"] is None

    me = call_api(tmp_path, user["api_key"], "GET", "/v3/self")
    assert me.status_code == 200
    assert me.json() == {
        "principal_type": "service_user",
        "service_user_id": user["service_user_id"],
        "service_user_name": f"{role}-bot",
        "org_id": user["org_id"],
    }
    session = call_api(tmp_path, user["api_key"], "POST", f"/v3/organizations/{org}/sessions", {"prompt": "hi"})
    assert session.status_code == 200 and session.json()["org_id"] == org
    orgs = call_api(tmp_path, user["api_key"], "GET", "/v3/enterprise/organizations")
    assert orgs.status_code == (200 if role == "enterprise_admin" else 403)


def test_service_user_scope_must_match_the_role(tmp_path: Path) -> None:
    org = admin(tmp_path, "orgs", "create", "team")["org_id"]
    unscoped = admin(tmp_path, "service-users", "create", "m", "--role", "org_member", ok=False)
    assert "needs an organization" in unscoped.stderr
    scoped = admin(tmp_path, "service-users", "create", "e", "--role", "enterprise_admin", "--org", org, ok=False)
    assert "belongs to no organization" in scoped.stderr
    missing = admin(tmp_path, "service-users", "create", "m", "--org", "org-missing", ok=False)
    assert "not found" in missing.stderr
    assert admin(tmp_path, "service-users", "list") == []
    bad_role = runner.invoke(admin_app, ["service-users", "create", "x", "--role", "root", "--data-dir", str(tmp_path)])
    assert bad_role.exit_code == 2


def test_keys_list_revoke_and_create(tmp_path: Path) -> None:
    org = admin(tmp_path, "orgs", "create", "team")["org_id"]
    user = admin(tmp_path, "service-users", "create", "ci", "--org", org)
    assert admin(tmp_path, "service-users", "list", "--org", org)[0]["service_user_id"] == user["service_user_id"]
    second = admin(tmp_path, "keys", "create", user["service_user_id"], "--name", "rotation", "--ttl-days", "1")
    assert second["api_key"].startswith("cog_") and second["api_key"] != user["api_key"]
    assert second["expires_at"] is not None

    keys = admin(tmp_path, "keys", "list", user["service_user_id"])
    assert [k["api_key_id"] for k in keys] == [user["api_key_id"], second["api_key_id"]]
    assert [k["name"] for k in keys] == ["default", "rotation"]
    assert all(k["revoked_at"] is None for k in keys)
    listing = json.dumps(keys)
    assert user["api_key"] not in listing and second["api_key"] not in listing
    assert keys[0]["hint"] == user["api_key"][:8] + "…"

    assert call_api(tmp_path, user["api_key"], "GET", "/v3/self").status_code == 200
    revoked = admin(tmp_path, "keys", "revoke", user["api_key_id"])
    assert revoked["api_key_id"] == user["api_key_id"] and revoked["revoked_at"] is not None
    refused = call_api(tmp_path, user["api_key"], "GET", "/v3/self")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert call_api(tmp_path, second["api_key"], "GET", "/v3/self").status_code == 200

    again = admin(tmp_path, "keys", "revoke", user["api_key_id"], ok=False)
    assert "already revoked" in again.stderr
    unknown = admin(tmp_path, "keys", "revoke", "apikey-nope", ok=False)
    assert "not found" in unknown.stderr
    assert admin(tmp_path, "keys", "list", user["service_user_id"])[0]["revoked_at"] is not None


def test_admin_and_the_server_share_the_data_dir(tmp_path: Path) -> None:
    """Orgs made by ``admin`` exist for the API, and the server's bootstrap org is visible to ``admin``."""
    created = admin(tmp_path, "orgs", "create", "made-by-admin")["org_id"]
    enterprise = admin(tmp_path, "service-users", "create", "root", "--role", "enterprise_admin")
    orgs = call_api(tmp_path, enterprise["api_key"], "GET", "/v3/enterprise/organizations").json()["items"]
    assert {o["org_id"] for o in orgs} >= {created}
    assert "default" in [o["name"] for o in admin(tmp_path, "orgs", "list")]
