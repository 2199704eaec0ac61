"""``codeyard serve`` as a real process (contract §2): first-start bootstrap files, working keys, no second
bootstrap on restart, and a clean exit on SIGTERM."""

import json
import signal
import stat
from pathlib import Path

import httpx2
import pytest

from tests.conftest import LiveServer, start_server, stop_server


def whoami(server: LiveServer, key: str) -> httpx2.Response:
    return httpx2.get(f"{server.url}/v3/self", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def terminate(server: LiveServer) -> int:
    server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=20)


@pytest.mark.slow
def test_first_start_bootstraps_and_a_restart_does_not(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    try:
        boot_path, env_path = data_dir / "bootstrap.json", data_dir / "bootstrap.env"
        for path in (boot_path, env_path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        boot = json.loads(boot_path.read_text())
        assert set(boot) == {"api_url", "org_id", "org_api_key", "enterprise_api_key"}
        assert boot["api_url"] == first.url
        assert boot["org_id"].startswith("org-")
        assert boot["org_api_key"].startswith("cog_") and boot["enterprise_api_key"].startswith("cog_")
        assert env_path.read_text() == (
            f"export DEVIN_API_URL={first.url} DEVIN_API_KEY={boot['org_api_key']} DEVIN_ORG_ID={boot['org_id']}\n"
        )

        org_self = whoami(first, boot["org_api_key"]).json()
        assert org_self["org_id"] == boot["org_id"]
        assert whoami(first, boot["enterprise_api_key"]).json()["org_id"] is None
        assert "First start" in first.log() and boot["org_api_key"] in first.log()
        assert terminate(first) == 0
    finally:
        stop_server(first)

    second = start_server(data_dir)
    try:
        assert json.loads(boot_path.read_text()) == boot
        assert "First start" not in second.log()
        assert boot["org_api_key"] not in second.log()
        assert whoami(second, boot["org_api_key"]).status_code == 200
        orgs = httpx2.get(
            f"{second.url}/v3/enterprise/organizations",
            headers={"Authorization": f"Bearer {boot['enterprise_api_key']}"},
            timeout=10,
        ).json()
        assert [o["name"] for o in orgs["items"]] == ["default"]
    finally:
        stop_server(second)


@pytest.mark.slow
def test_sigterm_shuts_the_server_down_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        created = httpx2.post(
            f"{server.url}/v3/organizations/sessions",
            headers={"Authorization": f"Bearer {server.org_key}"},
            json={"prompt": "queued while the server stops"},
            timeout=10,
        )
        assert created.status_code == 200
        assert terminate(server) == 0
        log = server.log()
        assert "Traceback" not in log
        try:
            httpx2.get(f"{server.url}/healthz", timeout=2)
            raise AssertionError("the server still answers after SIGTERM")
        except httpx2.TransportError:
            pass
    finally:
        stop_server(server)
