"""The blob store: the same behaviour from the data dir and from a real S3 API (moto's server on loopback);
attachments uploaded, linked and downloaded through the API with their files in S3; keys that try to escape."""

import json
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from codeyard.api.app import create_app
from codeyard.cli.server import prepare
from codeyard.storage.blobs import BlobNotFoundError, BlobStore, LocalBlobs, S3Blobs, check_key
from tests.conftest import free_port, make_settings
from tests.s3_server import S3Server, running_s3_server


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(free_port(), tmp_path_factory.mktemp("moto")) as server:
        server.create_bucket("blobs")
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobs(tmp_path / "blobs")
    server: S3Server = request.getfixturevalue("s3")
    return S3Blobs(
        "blobs",
        f"t-{tmp_path.name}",
        endpoint=server.endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_put_get_stream_delete(store: BlobStore, tmp_path: Path) -> None:
    await store.ping()
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    await store.put_file("attachments/org-1/a", source)
    await store.put_bytes("checkpoints/devin-1/3.tar.gz", b"small")
    assert await store.exists("attachments/org-1/a")
    assert await read_all(store.stream("attachments/org-1/a")) == data
    target = tmp_path / "copy.bin"
    await store.get_file("checkpoints/devin-1/3.tar.gz", target)
    assert target.read_bytes() == b"small"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    await store.put_bytes("checkpoints/devin-1/3.tar.gz", b"replaced")
    assert await read_all(store.stream("checkpoints/devin-1/3.tar.gz")) == b"replaced"

    await store.delete("attachments/org-1/a")
    await store.delete("attachments/org-1/a")  # absent is fine
    assert not await store.exists("attachments/org-1/a")
    with pytest.raises(BlobNotFoundError):
        await read_all(store.stream("attachments/org-1/a"))
    with pytest.raises(BlobNotFoundError):
        await store.get_file("attachments/org-1/a", tmp_path / "missing")


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", ".hidden", "a/.b", "a//b", "a\\b", "", "a/b\x00"])
def test_keys_that_could_escape_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


async def test_local_files_are_private_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    store = LocalBlobs(tmp_path / "blobs")
    await store.put_bytes("attachments/org-1/a", b"x")
    path = tmp_path / "blobs" / "attachments" / "org-1" / "a"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    outside = tmp_path / "outside"
    outside.write_text("secret")
    (tmp_path / "blobs" / "attachments" / "org-1" / "link").symlink_to(outside)
    with pytest.raises(OSError):
        await read_all(store.stream("attachments/org-1/link"))
    (tmp_path / "blobs" / "attachments" / "org-2").symlink_to(tmp_path)
    with pytest.raises(ValueError):
        await store.put_bytes("attachments/org-2/planted", b"y")
    assert not (tmp_path / "planted").exists()


async def test_attachments_live_in_s3_and_signed_links_serve_them(tmp_path: Path, s3: S3Server) -> None:
    env = s3.env("blobs", prefix=f"api-{tmp_path.name}")
    settings = make_settings(
        tmp_path / "data",
        public_url="http://testserver",
        blob_url=env["CODEYARD_BLOB_URL"],
        s3_endpoint_url=s3.endpoint,
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )
    db, services = await prepare(settings)
    boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
    auth = {"Authorization": f"Bearer {boot['org_api_key']}"}
    app = create_app(settings, services)
    payload = os.urandom(2 * 1024 * 1024 + 5)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as c:
            ready = await c.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "blobs": "ok"}
            up = await c.post(
                f"/v3/organizations/{boot['org_id']}/attachments",
                headers=auth,
                files={"file": ("report one.bin", payload, "application/octet-stream")},
            )
            assert up.status_code == 200, up.text
            url = up.json()["url"]
            assert not list((settings.data_dir).rglob(up.json()["attachment_id"]))  # nothing on the local disk
            down = await c.get(url.removeprefix("http://testserver"))
            assert down.status_code == 200 and down.content == payload
            assert down.headers["content-disposition"].startswith("attachment")
            tampered = await c.get(url.removeprefix("http://testserver").replace("signature=", "signature=x"))
            assert tampered.status_code == 403
            # the runner's copy for a workspace comes from the store too
            row = await services.attachments.get(boot["org_id"], up.json()["attachment_id"])
            local = await services.attachments.local_file(row)
            assert local.read_bytes() == payload
            await services.blobs.delete(services.attachments.key_of(row))
            gone = await c.get(url.removeprefix("http://testserver"))
            assert gone.status_code == 404
    finally:
        await db.dispose()


async def test_readyz_reports_an_unreachable_blob_store(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data",
        blob_url="s3://nowhere/p",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        s3_region="us-east-1",
        s3_access_key_id="k",
        s3_secret_access_key="s",
    )
    db, services = await prepare(settings)
    try:
        app = create_app(settings, services)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as c:
            response = await c.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"]["database"] == "ok" and body["checks"]["blobs"] != "ok"
    finally:
        await db.dispose()
