"""v1 and ``/v3beta1`` through a live server with ``requests``, as the existing third-party clients call them
(devin-api-reference §11): the key check, create, poll, message, tags, terminate."""

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("live-clients") / "data", {"CODEYARD_RUNNER_ENABLED": "false"})
    yield live
    stop_server(live)


def test_a_v1_client(server: LiveServer) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {server.org_key}"
    assert http.get(f"{server.url}/v1/sessions", params={"limit": 1}).status_code == 200  # the key check

    created = http.post(f"{server.url}/v1/sessions", json={"prompt": "Fix it", "tags": ["cli"], "idempotent": True})
    assert created.status_code == 200, created.text
    session_id = created.json()["session_id"]
    assert created.json()["is_new_session"] is True

    polled = http.get(f"{server.url}/v1/session/{session_id}").json()
    assert polled["status_enum"] == "working"
    assert polled["messages"][0]["type"] == "initial_user_message"
    assert http.post(f"{server.url}/v1/session/{session_id}/message", json={"message": "more"}).status_code == 200
    assert http.put(f"{server.url}/v1/sessions/{session_id}/tags", json={"tags": ["x"]}).status_code == 200
    listed = http.get(f"{server.url}/v1/sessions", params={"tags": "x"}).json()["sessions"]
    assert [s["session_id"] for s in listed] == [session_id]
    assert http.delete(f"{server.url}/v1/sessions/{session_id}").status_code == 200
    assert http.get(f"{server.url}/v1/sessions/{session_id}").json()["status_enum"] == "finished"

    wrong = requests.get(f"{server.url}/v1/sessions", headers={"Authorization": "Bearer apk_user_abc"})
    assert wrong.status_code == 401
    assert "detail" in wrong.json()


def test_a_v3beta1_client(server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.org_key}"}
    me = requests.get(f"{server.url}/v3beta1/self", headers=headers).json()
    assert me["org_id"] == server.org_id
    base = f"{server.url}/v3beta1/organizations/{server.org_id}"
    created = requests.post(f"{base}/sessions", headers=headers, json={"prompt": "beta"}).json()
    page = requests.get(f"{base}/sessions", headers=headers, params={"first": 1}).json()
    assert page["items"][0]["session_id"] == created["session_id"]
    bot = requests.post(f"{base}/service-users", headers=headers, json={"name": "bot", "role_id": "org_member"}).json()
    assert requests.get(f"{server.url}/v3/self", headers={"Authorization": f"Bearer {bot['token']}"}).status_code == 200
