"""Attachments (contract §6): upload, the bearer path's 307 to a signed link, the signed link itself (tampered or
expired → 403), upload limits (413), cross-org isolation, and files linked to sessions."""

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from codeyard.api.app import create_app
from codeyard.cli.server import prepare
from codeyard.config import Settings
from codeyard.services.container import Services
from codeyard.services.principal import Role
from tests.conftest import ApiEnv, LiveServer, make_settings


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def app_client(settings: Settings, clock: Clock | None = None) -> AsyncIterator[tuple[httpx2.AsyncClient, str]]:
    """The app on ``settings`` (and ``clock``), a client for it, and the org admin's bootstrap key."""
    db, prepared = await prepare(settings)
    services = Services(settings, db, clock=clock) if clock else prepared
    key = json.loads((settings.data_dir / "bootstrap.json").read_text())["org_api_key"]
    transport = httpx2.ASGITransport(app=create_app(settings, services))
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, key
    finally:
        await db.dispose()


async def upload(
    api: ApiEnv, name: str = "report.csv", data: bytes = b"a,b\n1,2\n", key: str | None = None, org: str | None = None
) -> dict[str, Any]:
    response = await api.client.post(
        api.org_path("/attachments", org), headers=api.auth(key), files={"file": (name, data, "text/csv")}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored_files(data_dir: Path) -> list[Path]:
    root = data_dir / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- upload and download -----------------------------------------------------------------------------------


async def test_upload_returns_a_signed_link_that_downloads_without_a_key(api: ApiEnv) -> None:
    body = await upload(api, data=b"col\n42\n")
    assert set(body) == {"attachment_id", "name", "url"}
    assert str(uuid.UUID(body["attachment_id"])) == body["attachment_id"]
    assert body["name"] == "report.csv"
    parts = urlsplit(body["url"])
    assert f"{parts.scheme}://{parts.netloc}" == "http://testserver"
    assert parts.path == f"/files/{body['attachment_id']}/report.csv"
    assert set(parse_qs(parts.query)) == {"expires", "signature"}

    download = await api.client.get(body["url"])
    assert download.status_code == 200
    assert download.content == b"col\n42\n"
    assert download.headers["content-disposition"].startswith("attachment")
    assert 'filename="report.csv"' in download.headers["content-disposition"]
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"].startswith("text/csv")


async def test_bearer_path_redirects_to_a_signed_link(api: ApiEnv) -> None:
    body = await upload(api)
    path = api.org_path(f"/attachments/{body['attachment_id']}/report.csv")
    redirect = await api.client.get(path, headers=api.auth())
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    assert location.startswith(f"http://testserver/files/{body['attachment_id']}/report.csv?expires=")
    assert (await api.client.get(location)).content == b"a,b\n1,2\n"
    # The org-less form, a member's key and the enterprise key work too.
    member = await api.key(Role.ORG_MEMBER)
    for url, key in (
        (f"/v3/organizations/attachments/{body['attachment_id']}/report.csv", None),
        (path, member),
        (path, api.enterprise_key),
    ):
        assert (await api.client.get(url, headers=api.auth(key))).status_code == 307
    assert (await api.client.get(path)).status_code == 401
    wrong_name = api.org_path(f"/attachments/{body['attachment_id']}/other.csv")
    assert (await api.client.get(wrong_name, headers=api.auth())).status_code == 404


async def test_a_member_may_upload_and_no_key_may_not(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    assert (await upload(api, key=member))["name"] == "report.csv"
    anonymous = await api.client.post(api.org_path("/attachments"), files={"file": ("a.txt", b"x")})
    assert anonymous.status_code == 401


async def test_upload_without_a_file_field_is_422(api: ApiEnv) -> None:
    for kwargs in ({"files": {"other": ("a.txt", b"x")}}, {"data": {"file": "not a file"}}, {}):
        response = await api.client.post(api.org_path("/attachments"), headers=api.auth(), **kwargs)
        assert response.status_code == 422, kwargs


async def test_path_tricks_in_file_names_are_neutralised(api: ApiEnv) -> None:
    names = {
        "../../etc/passwd": "passwd",
        "..\\..\\windows\\win.ini": "win.ini",
        "/absolute/path.txt": "path.txt",
        "..": "attachment",
        ".hidden": "hidden",
        "pipe|less<than>.txt": "pipelessthan.txt",
        "résumé 2026.pdf": "résumé 2026.pdf",
        "x" * 300 + ".txt": "x" * 200,
    }
    for given, expected in names.items():
        body = await upload(api, name=given, data=given.encode())
        assert body["name"] == expected, given
        assert "/" not in body["name"] and "\\" not in body["name"]
        download = await api.client.get(body["url"])
        assert download.status_code == 200 and download.content == given.encode()
    # Control characters, sent raw (httpx2 would percent-encode them), are dropped too.
    raw = (
        b'--sep\r\nContent-Disposition: form-data; name="file"; filename="../tab\tand\x01ctl.txt"\r\n\r\n'
        b"raw\r\n--sep--\r\n"
    )
    headers = {**api.auth(), "Content-Type": "multipart/form-data; boundary=sep"}
    response = await api.client.post(api.org_path("/attachments"), headers=headers, content=raw)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "tabandctl.txt"
    root = api.settings.data_dir / "attachments"
    assert all(p.is_relative_to(root) and p.parent == root / api.org_id for p in stored_files(api.settings.data_dir))
    assert not (api.settings.data_dir / "etc").exists()


# -- signed links -----------------------------------------------------------------------------------------


def _alter(url: str, part: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    path = parts.path
    if part == "signature":
        sig = query["signature"]
        query["signature"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    elif part == "expires":
        query["expires"] = str(int(query["expires"]) + 1)
    elif part == "name":
        path = re.sub(r"/[^/]+$", "/passwd", path)
    elif part == "id":
        path = re.sub(r"/files/[^/]+/", f"/files/{uuid.uuid4()}/", path)
    elif part == "no-signature":
        del query["signature"]
    elif part == "bad-id":
        path = re.sub(r"/files/[^/]+/", "/files/not-a-uuid/", path)
    return f"{parts.scheme}://{parts.netloc}{path}?" + "&".join(f"{k}={v}" for k, v in query.items())


async def test_tampered_links_are_403(api: ApiEnv) -> None:
    body = await upload(api)
    assert (await api.client.get(body["url"])).status_code == 200
    for part in ("signature", "expires", "name", "id", "no-signature", "bad-id"):
        response = await api.client.get(_alter(body["url"], part))
        assert response.status_code == 403, part
        assert response.headers["content-type"].startswith("application/problem+json")
        assert b"a,b" not in response.content


async def test_links_expire(tmp_path: Path) -> None:
    clock = Clock()
    settings = make_settings(tmp_path, public_url="http://testserver", attachment_link_ttl=600)
    async with app_client(settings, clock) as (client, key):
        uploaded = await client.post(
            "/v3/organizations/attachments", headers={"Authorization": f"Bearer {key}"}, files={"file": ("a.txt", b"x")}
        )
        url = uploaded.json()["url"]
        assert int(parse_qs(urlsplit(url).query)["expires"][0]) == int(clock.now) + 600
        clock.now += 600
        assert (await client.get(url)).status_code == 200
        clock.now += 1
        expired = await client.get(url)
        assert expired.status_code == 403
        assert "expired" in expired.json()["detail"]
        # The bearer path hands out a fresh link.
        attachment = uploaded.json()["attachment_id"]
        fresh = await client.get(
            f"/v3/organizations/attachments/{attachment}/a.txt", headers={"Authorization": f"Bearer {key}"}
        )
        assert (await client.get(fresh.headers["location"])).content == b"x"


# -- limits ----------------------------------------------------------------------------------------------


async def test_oversize_uploads_and_bodies_are_413_problems(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachment_max_bytes=1000, max_body_bytes=2000)
    async with app_client(settings) as (client, key):
        auth = {"Authorization": f"Bearer {key}"}
        at_limit = await client.post("/v3/organizations/attachments", headers=auth, files={"file": ("ok", b"x" * 1000)})
        assert at_limit.status_code == 200

        async def chunked(size: int) -> AsyncIterator[bytes]:
            boundary = b"--b0undary\r\n"
            yield boundary + b'Content-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
            yield b"y" * size
            yield b"\r\n--b0undary--\r\n"

        multipart = {**auth, "Content-Type": "multipart/form-data; boundary=b0undary"}
        attempts = [
            await client.post("/v3/organizations/attachments", headers=auth, files={"file": ("big", b"y" * 1001)}),
            await client.post("/v3/organizations/attachments", headers=auth, files={"file": ("big", b"y" * 300_000)}),
            await client.post("/v3/organizations/attachments", headers=multipart, content=chunked(300_000)),
        ]
        for response in attempts:
            assert response.status_code == 413, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            body = response.json()
            assert body["status"] == 413 and body["request_id"] == response.headers["x-request-id"]
            assert "limit of 1000 bytes" in body["detail"], body["detail"]
        assert [p.name for p in stored_files(tmp_path)] == [at_limit.json()["attachment_id"]]

        json_auth = {**auth, "Content-Type": "application/json"}
        huge = json.dumps({"prompt": "p" * 5000}).encode()

        async def stream() -> AsyncIterator[bytes]:
            yield huge

        for response in (
            await client.post("/v3/organizations/sessions", headers=json_auth, content=huge),
            await client.post("/v3/organizations/sessions", headers=json_auth, content=stream()),
        ):
            assert response.status_code == 413, response.text
            assert "limit of 2000 bytes" in response.json()["detail"]
        listed = await client.get("/v3/organizations/sessions", headers=auth)
        assert listed.json()["items"] == []


# -- isolation --------------------------------------------------------------------------------------------


async def test_another_orgs_attachment_is_404_and_unusable(api: ApiEnv) -> None:
    mine = await upload(api, data=b"confidential")
    other_org, other_key = await api.new_org()
    path = f"/attachments/{mine['attachment_id']}/report.csv"
    for url in (api.org_path(path, other_org), f"/v3/organizations{path}"):
        response = await api.client.get(url, headers=api.auth(other_key))
        assert response.status_code == 404
        assert "location" not in response.headers and b"confidential" not in response.content
    assert (await api.client.get(api.org_path(path), headers=api.auth(other_key))).status_code == 403

    for field, body in (
        ("attachment_urls", {"prompt": "use it", "attachment_urls": [mine["url"]]}),
        ("attachment_urls", {"prompt": f'use it\nATTACHMENT:"{mine["url"]}"'}),
    ):
        response = await api.client.post(api.org_path("/sessions", other_org), headers=api.auth(other_key), json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", field]
    theirs = await api.client.post(
        api.org_path("/sessions", other_org), headers=api.auth(other_key), json={"prompt": "x"}
    )
    sid = theirs.json()["session_id"]
    message = await api.client.post(
        api.org_path(f"/sessions/{sid}/messages", other_org),
        headers=api.auth(other_key),
        json={"message": "here", "attachment_urls": [mine["url"]]},
    )
    assert message.status_code == 422


# -- files in sessions -----------------------------------------------------------------------------------


async def test_attachment_urls_and_lines_link_files_to_the_session(api: ApiEnv) -> None:
    first = await upload(api, name="one.txt", data=b"1")
    second = await upload(api, name="two.txt", data=b"2")
    third = await upload(api, name="three.txt", data=b"3")
    api_path = "http://testserver" + api.org_path(f"/attachments/{second['attachment_id']}/two.txt")
    prompt = f'Look at these files.\nATTACHMENT:"{api_path}"\nThanks'
    created = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": prompt, "attachment_urls": [first["url"]]}
    )
    assert created.status_code == 200, created.text
    session = created.json()
    assert session["title"] == "Look at these files."
    sid = session["session_id"]
    sent = await api.client.post(
        api.org_path(f"/sessions/{sid}/messages"),
        headers=api.auth(),
        json={"message": f'and this one\nATTACHMENT:"{third["url"]}"', "attachment_urls": [first["url"]]},
    )
    assert sent.status_code == 200

    listing = (await api.client.get(api.org_path(f"/sessions/{sid}/attachments"), headers=api.auth())).json()
    assert set(listing) == {"items", "end_cursor", "has_next_page", "total"}
    items = listing["items"]
    assert [i["name"] for i in items] == ["one.txt", "two.txt", "three.txt"]
    assert listing["total"] == 3
    for item, data in zip(items, (b"1", b"2", b"3"), strict=True):
        assert set(item) == {"attachment_id", "name", "source", "url", "content_type"}
        assert item["source"] == "user" and item["content_type"] == "text/csv"
        assert (await api.client.get(item["url"])).content == data


async def test_a_line_that_is_not_exactly_an_attachment_line_is_left_alone(api: ApiEnv) -> None:
    file = await upload(api)
    prompt = f'See ATTACHMENTS:"{file["url"]}" and {file["url"]}'
    sid = (await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": prompt})).json()
    listing = await api.client.get(api.org_path(f"/sessions/{sid['session_id']}/attachments"), headers=api.auth())
    assert listing.json()["items"] == []


# -- the Devin common-flows attachment flow against a live server --------------------------------------------


@pytest.mark.slow
def test_common_flow_attachments_against_a_live_server(live_server: LiveServer, tmp_path: Path) -> None:
    data_file = tmp_path / "data.csv"
    data_file.write_text("region,revenue\nnorth,10\n")
    base = f"{live_server.url}/v3/organizations/{live_server.org_id}"
    headers = {"Authorization": f"Bearer {live_server.org_key}"}
    with httpx2.Client(timeout=10) as http:
        with open(data_file, "rb") as f:
            uploaded = http.post(f"{base}/attachments", headers=headers, files={"file": f})
        assert uploaded.status_code == 200
        file_url = uploaded.json()["url"]
        assert file_url.startswith(live_server.url + "/files/")

        session = http.post(
            f"{base}/sessions",
            headers=headers,
            json={"prompt": f'Analyze the data in the attached file.\n\nATTACHMENT:"{file_url}"'},
        ).json()
        attachments = http.get(f"{base}/sessions/{session['session_id']}/attachments", headers=headers).json()["items"]
        assert [(a["name"], a["source"]) for a in attachments] == [("data.csv", "user")]

        redirect = http.get(f"{base}/attachments/{attachments[0]['attachment_id']}/data.csv", headers=headers)
        assert redirect.status_code == 307
        downloaded = http.get(redirect.headers["location"])
        assert downloaded.status_code == 200
        assert downloaded.text == data_file.read_text()
