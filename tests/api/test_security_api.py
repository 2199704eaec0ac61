"""API-side items of issue 8: impersonation needs org_admin, user patterns must be RE2, ``/docs`` loads nothing
from elsewhere, and the data dir is private."""

import json
import os
import stat
from pathlib import Path

import httpx2

from codeyard.api.app import create_app
from codeyard.cli.server import prepare
from codeyard.services.principal import Role
from tests.api.test_wire_rules import assert_problem
from tests.conftest import ApiEnv, make_settings
from tests.databases import sqlite_only


async def test_acting_as_another_user_needs_org_admin(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    path = api.org_path("/sessions")
    person = (await api.services.identity.create_service_user("a person", Role.ORG_MEMBER, api.org_id)).id
    body = {"prompt": "work", "create_as_user_id": person}
    denied = assert_problem(await api.client.post(path, json=body, headers=api.auth(member)), 403)
    assert "ImpersonateOrgSessions" in denied["detail"]
    assert (await api.client.post(path, json={"prompt": "work"}, headers=api.auth(member))).status_code == 200
    created = await api.client.post(path, json=body, headers=api.auth())
    assert created.status_code == 200 and created.json()["user_id"] == person
    enterprise = await api.client.post(path, json=body, headers=api.auth(api.enterprise_key))
    assert enterprise.status_code == 200
    messages = api.org_path(f"/sessions/{created.json()['session_id']}/messages")
    as_other = {"message": "more", "message_as_user_id": person}
    assert_problem(await api.client.post(messages, json=as_other, headers=api.auth(member)), 403)
    assert (await api.client.post(messages, json=as_other, headers=api.auth())).status_code == 200


async def test_output_schema_patterns_must_be_re2(api: ApiEnv) -> None:
    path = api.org_path("/sessions")
    for pattern in ("(a)\\1", "(?=lookahead)x", "(?<!x)y"):
        schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
        response = await api.client.post(
            path, json={"prompt": "x", "structured_output_schema": schema}, headers=api.auth()
        )
        assert response.status_code == 422, pattern
        assert "RE2" in json.dumps(response.json())
    keys = {"type": "object", "patternProperties": {"(a)\\1": {}}}
    bad_keys = await api.client.post(path, json={"prompt": "x", "structured_output_schema": keys}, headers=api.auth())
    assert bad_keys.status_code == 422
    fine = {
        "type": "object",
        "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}, "pattern": {"enum": [{"pattern": "(a)\\1"}]}},
    }
    ok = await api.client.post(path, json={"prompt": "x", "structured_output_schema": fine}, headers=api.auth())
    assert ok.status_code == 200


async def test_docs_serve_their_assets_locally(api: ApiEnv) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "/docs/assets/swagger-ui-bundle.js" in html and "/docs/assets/swagger-ui.css" in html
    assert "https://" not in html and "http://" not in html  # no CDN
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    script = await api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000


async def test_docs_can_be_switched_off(api: ApiEnv) -> None:
    settings = make_settings(api.settings.data_dir, docs_enabled=False)
    app = create_app(settings, api.services)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/docs/assets/swagger-ui-bundle.js")).status_code == 404


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@sqlite_only("it checks the modes of the database file in the data dir")
async def test_the_data_dir_and_its_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "attachments" / "org-old").mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    (data / "attachments").chmod(0o755)
    old = data / "attachments" / "org-old" / "file"
    old.write_text("left world-readable by an older version")
    old.chmod(0o644)
    settings = make_settings(data, public_url="http://testserver")
    db, services = await prepare(settings)
    assert _mode(data) == 0o700
    assert _mode(data / "attachments") == _mode(data / "attachments" / "org-old") == 0o700
    assert _mode(data / "workspaces") == 0o700
    for name in ("codeyard.db", "bootstrap.json", "bootstrap.env"):
        assert _mode(data / name) == 0o600, name
    assert _mode(old) == 0o600
    org = (await services.identity.list_orgs())[0].id
    stored = await services.attachments.store_bytes(org, "new.txt", b"data", None, source="user")
    stored_path = await services.attachments.local_file(stored)
    assert _mode(stored_path) == 0o600
    assert _mode(stored_path.parent) == 0o700
    assert os.stat(data).st_uid == os.getuid()
    await db.dispose()
