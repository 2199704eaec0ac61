"""Uploads (multipart field `file`) and downloads, where the key never goes to a signed link."""

import io
from pathlib import Path

import pytest

from codeyard.sdk import Client, PermissionDeniedError
from tests.sdk.fake_api import ORG, FakeAPI, Recorded, Reply

UPLOAD = f"/v3/organizations/{ORG}/attachments"


def _echo_upload(request: Recorded) -> Reply:
    part = request.files["file"]
    return Reply(json={"attachment_id": "u-1", "name": part.filename, "url": f"http://signed/{part.filename}"})


def test_upload_a_path_sends_a_multipart_file(api: FakeAPI, client: Client, tmp_path: Path) -> None:
    api.on("POST", UPLOAD, _echo_upload)
    path = tmp_path / "report.json"
    path.write_bytes(b'{"ok": true}')

    attachment = client.attachments.upload(path)

    part = api.requests_to("POST", UPLOAD)[0].files["file"]
    assert (part.filename, part.content_type, part.content) == ("report.json", "application/json", b'{"ok": true}')
    assert (attachment.attachment_id, attachment.name) == ("u-1", "report.json")


def test_upload_bytes_and_streams(api: FakeAPI, client: Client) -> None:
    api.on("POST", UPLOAD, _echo_upload)

    client.attachments.upload(b"\x00\x01", name="blob.bin")
    client.attachments.upload(io.BytesIO(b"hello"), name="note.txt", content_type="text/x-note")

    first, second = (r.files["file"] for r in api.requests_to("POST", UPLOAD))
    assert (first.filename, first.content_type, first.content) == ("blob.bin", "application/octet-stream", b"\x00\x01")
    assert (second.filename, second.content_type, second.content) == ("note.txt", "text/x-note", b"hello")


def test_upload_of_nameless_bytes_needs_a_name(api: FakeAPI, client: Client) -> None:
    with pytest.raises(ValueError, match="name"):
        client.attachments.upload(b"data")
    assert api.requests == []


def test_download_of_a_signed_link_sends_no_key(api: FakeAPI, client: Client) -> None:
    api.on("GET", "/signed/u-1/log.txt", Reply(content=b"log line\n"))

    data = client.attachments.download(f"{api.url}/signed/u-1/log.txt?expires=1&sig=abc")

    assert data == b"log line\n"
    (request,) = api.requests_to("GET", "/signed/u-1/log.txt")
    assert "authorization" not in request.headers
    assert request.params("sig") == ["abc"]


def test_download_through_the_api_follows_the_redirect_without_the_key(api: FakeAPI, client: Client) -> None:
    api_path = f"/v3/organizations/{ORG}/attachments/u-1/log.txt"
    api.on("GET", api_path, Reply(status=307, headers={"location": "/signed/u-1/log.txt?sig=abc"}))
    api.on("GET", "/signed/u-1/log.txt", Reply(content=b"data"))

    assert client.attachments.download(api.url + api_path) == b"data"

    assert api.requests_to("GET", api_path)[0].headers["authorization"].startswith("Bearer ")
    assert "authorization" not in api.requests_to("GET", "/signed/u-1/log.txt")[0].headers


def test_expired_link_is_permission_denied(api: FakeAPI, client: Client) -> None:
    api.on("GET", "/signed/u-1/log.txt", Reply.problem(403, "Forbidden", "the link has expired"))

    with pytest.raises(PermissionDeniedError, match="the link has expired"):
        client.attachments.download(f"{api.url}/signed/u-1/log.txt?sig=old")
