"""The async client sends the same requests and raises the same errors as the sync one."""

import httpx2
import pytest

from codeyard.sdk import AsyncClient, ConflictError
from tests.sdk.fake_api import API_KEY, ORG, FakeAPI, Reply, page_json, session_json, three_session_pages

SID = "devin-" + "e" * 32
SESSIONS = f"/v3/organizations/{ORG}/sessions"


async def test_create_get_and_send(api: FakeAPI, aclient: AsyncClient) -> None:
    api.on("POST", SESSIONS, Reply(json=session_json(SID, status="new")))
    api.on("GET", f"{SESSIONS}/{SID}", Reply(json=session_json(SID)))
    api.on("POST", f"{SESSIONS}/{SID}/messages", Reply.problem(409, "Conflict", "session is archived"))

    created = await aclient.sessions.create(prompt="p", knowledge_ids=[])
    fetched = await aclient.sessions.get(SID)
    with pytest.raises(ConflictError) as excinfo:
        await aclient.sessions.send_message(SID, "hello")

    assert (created.status, fetched.status) == ("new", "running")
    assert api.requests_to("POST", SESSIONS)[0].json() == {"prompt": "p", "knowledge_ids": []}
    assert api.requests_to("GET", f"{SESSIONS}/{SID}")[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert excinfo.value.detail == "session is archived"


async def test_async_list_all_walks_three_pages(api: FakeAPI, aclient: AsyncClient) -> None:
    api.on("GET", SESSIONS, three_session_pages)

    ids = [s.session_id async for s in aclient.sessions.list_all()]

    assert len(ids) == 6
    assert [r.params("after") for r in api.requests_to("GET", SESSIONS)] == [[], ["p2"], ["p3"]]


async def test_async_retries_and_upload(api: FakeAPI, aclient: AsyncClient) -> None:
    upload = f"/v3/organizations/{ORG}/attachments"
    busy = Reply.problem(503, "Service Unavailable", "busy", **{"retry-after": "0"})
    api.on("POST", upload, busy, Reply(json={"attachment_id": "u", "name": "a.txt", "url": f"{api.url}/signed/a"}))
    api.on("GET", "/signed/a", Reply(content=b"A"))

    attachment = await aclient.attachments.upload(b"A", name="a.txt")
    data = await aclient.attachments.download(attachment.url)

    assert data == b"A"
    assert [r.files["file"].content for r in api.requests_to("POST", upload)] == [b"A", b"A"]
    assert "authorization" not in api.requests_to("GET", "/signed/a")[0].headers


async def test_async_whoami_without_org_id(api: FakeAPI) -> None:
    api.on("GET", "/v3/self", Reply(json={"principal_type": "service_user", "org_id": None}))
    api.on("GET", "/v3/organizations/sessions", Reply(json=page_json([])))

    async with AsyncClient(api.url, API_KEY) as client:
        principal = await client.whoami()
        page = await client.sessions.list()

    assert principal.org_id is None
    assert page.items == []


async def test_an_in_process_transport_can_be_supplied(api: FakeAPI) -> None:
    # How API tests drive the real app without a socket; the SDK must not close a client it was given.
    api.on("GET", f"{SESSIONS}/{SID}", Reply(json=session_json(SID)))
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=api.app))

    async with AsyncClient("http://testserver", API_KEY, ORG, http_client=http) as client:
        session = await client.sessions.get(SID)

    assert session.session_id == SID
    assert api.requests_to("GET", f"{SESSIONS}/{SID}")[0].headers["host"] == "testserver"
    assert not http.is_closed
    await http.aclose()
