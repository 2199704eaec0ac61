"""`client.git_connections`: the async client against the real app (in process, real database), the sync client's
requests (only the fields given are sent; None clears), and the token kept out of every repr and response."""

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from codeyard.api.app import create_app
from codeyard.cli.server import prepare
from codeyard.sdk import AsyncClient, Client, NotFoundError, PermissionDeniedError, UnprocessableEntityError
from codeyard.sdk.resources.git_connections import _create
from codeyard.services.principal import Role
from tests.conftest import make_settings
from tests.sdk.fake_api import ORG, FakeAPI, Reply

TOKEN = "ghp_" + "Qw7Er6Ty5Ui4Op3" * 2
BASE = f"/v3/organizations/{ORG}"
CONNECTION = {"connection_id": "gitconn-1", "host": "github.com", "kind": "github", "created_at": 1, "updated_at": 2}


@pytest.fixture
async def served(tmp_path: Path, migrated_template: Path) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    """An org admin's and an org member's async client, both talking to the real app over ASGI."""
    settings = make_settings(tmp_path / "data", public_url="http://testserver")
    settings.data_dir.mkdir(parents=True)
    if settings.is_sqlite:
        shutil.copyfile(migrated_template, settings.data_dir / "codeyard.db")
    _, services = await prepare(settings)
    boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
    user = await services.identity.create_service_user("member", Role.ORG_MEMBER, boot["org_id"])
    member_key = (await services.identity.issue_key(user.id)).token
    transport = httpx2.ASGITransport(app=create_app(settings, services))
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http,
        AsyncClient("http://testserver", boot["org_api_key"], boot["org_id"], http_client=http) as admin,
        AsyncClient("http://testserver", member_key, boot["org_id"], http_client=http) as member,
    ):
        yield admin, member


async def test_async_round_trip(served: tuple[AsyncClient, AsyncClient]) -> None:
    admin, _ = served
    created = await admin.git_connections.create(host="GitLab.com", kind="gitlab", token=TOKEN, username="bot")
    assert (created.host, created.kind, created.username) == ("gitlab.com", "gitlab", "bot")
    assert "token" not in created.to_json_dict() and TOKEN not in repr(created)

    page = await admin.git_connections.list()
    assert [c.connection_id for c in page.items] == [created.connection_id]
    assert [c.host async for c in admin.git_connections.list_all()] == ["gitlab.com"]

    updated = await admin.git_connections.update(
        created.connection_id, api_url="https://gitlab.example.com/api/v4", username=None, token="rotated-token"
    )
    assert updated.api_url == "https://gitlab.example.com/api/v4" and updated.username is None
    kept = await admin.git_connections.update(created.connection_id, kind="gitlab")
    assert kept.api_url == "https://gitlab.example.com/api/v4"  # fields not given are left alone
    assert (await admin.git_connections.get(created.connection_id)).kind == "gitlab"

    deleted = await admin.git_connections.delete(created.connection_id)
    assert deleted.connection_id == created.connection_id
    with pytest.raises(NotFoundError):
        await admin.git_connections.get(created.connection_id)


async def test_async_errors(served: tuple[AsyncClient, AsyncClient]) -> None:
    admin, member = served
    with pytest.raises(PermissionDeniedError):
        await member.git_connections.list()
    with pytest.raises(PermissionDeniedError):
        await member.git_connections.create(host="github.com", token=TOKEN)
    with pytest.raises(UnprocessableEntityError) as caught:
        await admin.git_connections.create(host="github.com", token="two words " + TOKEN)
    assert TOKEN not in str(caught.value) and TOKEN not in caught.value.response.text


def test_sync_requests_send_only_the_fields_given(api: FakeAPI, client: Client) -> None:
    api.on("POST", f"{BASE}/git-connections", Reply(json=CONNECTION))
    api.on("PATCH", f"{BASE}/git-connections/gitconn-1", Reply(json=CONNECTION))
    api.on("GET", f"{BASE}/git-connections/gitconn-1", Reply(json=CONNECTION))
    api.on("DELETE", f"{BASE}/git-connections/gitconn-1", Reply(json=CONNECTION))

    created = client.git_connections.create(host="github.com", kind="github", token=TOKEN)
    client.git_connections.update("gitconn-1", username=None)
    client.git_connections.update("gitconn-1", token="new-token", host="github.example.com")

    assert created.connection_id == "gitconn-1" and TOKEN not in repr(created)
    assert api.requests_to("POST", f"{BASE}/git-connections")[0].json() == {
        "host": "github.com",
        "kind": "github",
        "token": TOKEN,
    }
    patches = [r.json() for r in api.requests_to("PATCH", f"{BASE}/git-connections/gitconn-1")]
    assert patches == [{"username": None}, {"host": "github.example.com", "token": "new-token"}]
    assert client.git_connections.get("gitconn-1").host == "github.com"
    assert client.git_connections.delete("gitconn-1").kind == "github"


def test_the_token_is_not_in_a_calls_repr() -> None:
    call = _create("github.com", TOKEN, "github", None, None)
    assert TOKEN not in repr(call) and "/git-connections" in repr(call)
