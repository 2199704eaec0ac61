"""The hot reads (``api.hot_reads``) answer exactly what the routed endpoints answer: the same requests are sent to
the application with and without them (same services, same database), and status, body and headers compare
equal, for answers and for every error on the way (no key, a bad key, another org, an enterprise key without an
org, an unknown or malformed session id, bad cursors and page sizes, paths the hot reads must not take)."""

from collections.abc import AsyncIterator

import httpx2
import pytest

from codeyard.api.app import create_app
from codeyard.api.hot_reads import _PATH, _page
from codeyard.services.principal import Role
from tests.conftest import ApiEnv

COMPARED_HEADERS = (
    "content-type",
    "content-length",
    "location",
    "x-request-id",
    "x-ratelimit-limit",
    "www-authenticate",
)
COUNTED_HEADERS = ("x-ratelimit-remaining", "x-ratelimit-reset", "retry-after")
"""Each application counts its own requests: these are compared by presence."""


@pytest.fixture
async def routed(api: ApiEnv) -> AsyncIterator[httpx2.AsyncClient]:
    """The same services and database behind an application without the hot reads."""
    app = create_app(api.settings, api.services, hot_reads=False)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


async def same_answer(api: ApiEnv, routed: httpx2.AsyncClient, path: str, headers: dict[str, str]) -> int:
    headers = {**headers, "X-Request-Id": "req-compare"}
    hot = await api.client.get(path, headers=headers)
    slow = await routed.get(path, headers=headers)
    assert hot.status_code == slow.status_code, (path, hot.text, slow.text)
    assert hot.content == slow.content, path  # byte for byte, not only the same JSON
    for name in COMPARED_HEADERS:
        assert hot.headers.get(name) == slow.headers.get(name), (path, name)
    for name in COUNTED_HEADERS:
        assert (name in hot.headers) == (name in slow.headers), (path, name)
    return hot.status_code


async def test_hot_reads_answer_as_the_routes_do(api: ApiEnv, routed: httpx2.AsyncClient) -> None:
    created = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Read me"})
    session_id = created.json()["session_id"]
    for i in range(4):
        sent = await api.client.post(
            api.org_path(f"/sessions/{session_id}/messages"), headers=api.auth(), json={"message": f"m{i}"}
        )
        assert sent.status_code == 200, sent.text
    bare = session_id.removeprefix("devin-")
    other_org, other_key = await api.new_org()
    viewer = await api.key(Role.ORG_MEMBER)
    enterprise = api.enterprise_key
    page = (await api.client.get(api.org_path(f"/sessions/{session_id}/messages?first=2"), headers=api.auth())).json()
    assert page["has_next_page"] and page["end_cursor"]

    statuses: list[int] = []
    for suffix in ("", "/messages"):
        for path, headers in [
            (api.org_path(f"/sessions/{session_id}{suffix}"), api.auth()),
            (f"/v3/organizations/sessions/{session_id}{suffix}", api.auth()),
            (api.org_path(f"/sessions/{bare}{suffix}"), api.auth()),
            (api.org_path(f"/sessions/{bare.upper()}{suffix}"), api.auth()),
            (api.org_path(f"/sessions/{session_id}{suffix}"), api.auth(viewer)),
            (api.org_path(f"/sessions/{session_id}{suffix}"), api.auth(enterprise)),
            (api.org_path(f"/sessions/devin-{'0' * 32}{suffix}"), api.auth()),
            (api.org_path(f"/sessions/devin-{'0' * 31}{suffix}"), api.auth()),
            (api.org_path(f"/sessions/{session_id}{suffix}", other_org), api.auth()),
            (api.org_path(f"/sessions/{session_id}{suffix}", other_org), api.auth(other_key)),
            (api.org_path(f"/sessions/{session_id}{suffix}", "org-" + "f" * 32), api.auth(enterprise)),
            (f"/v3/organizations/sessions/{session_id}{suffix}", api.auth(enterprise)),
            (api.org_path(f"/sessions/{session_id}{suffix}"), {}),
            (api.org_path(f"/sessions/{session_id}{suffix}"), {"Authorization": "Bearer cog_not-a-key"}),
            (api.org_path(f"/sessions/{session_id}{suffix}"), {"Authorization": "Basic abc"}),
            (api.org_path(f"/sessions/{session_id}{suffix}/"), api.auth()),
            (f"/v3beta1/organizations/{api.org_id}/sessions/{session_id}{suffix}", api.auth()),
            (api.org_path(f"/sessions/{session_id}{suffix}?first=1&unknown=x"), api.auth()),
        ]:
            statuses.append(await same_answer(api, routed, path, headers))
    messages = api.org_path(f"/sessions/{session_id}/messages")
    for query in (
        "?first=2",
        f"?first=2&after={page['end_cursor']}",
        f"?after={page['end_cursor']}",
        "?after=",
        "?after=bm90LWEtY3Vyc29y",
        "?first=200",
        "?first=0",
        "?first=201",
        "?first=abc",
        "?first=",
        "?first=1&first=3",
        "?after=x&after=y",
        "?first=%31",
    ):
        statuses.append(await same_answer(api, routed, messages + query, api.auth()))
    statuses.append(await same_answer(api, routed, api.org_path("/sessions/insights"), api.auth()))
    assert {200, 400, 401, 403, 404, 422} <= set(statuses)


async def test_a_queued_session_shows_its_place_in_the_queue(api: ApiEnv, routed: httpx2.AsyncClient) -> None:
    ids = []
    for prompt in ("first", "second"):
        created = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": prompt})
        ids.append(created.json()["session_id"])
    second = (await api.client.get(api.org_path(f"/sessions/{ids[1]}"), headers=api.auth())).json()
    assert second["queue_position"] == 2
    assert await same_answer(api, routed, api.org_path(f"/sessions/{ids[1]}"), api.auth()) == 200


def test_the_hot_reads_take_only_their_own_paths_and_queries() -> None:
    hexid = "0123456789abcdef" * 2
    assert _PATH.fullmatch(f"/v3/organizations/org-1/sessions/devin-{hexid}/messages")
    assert _PATH.fullmatch(f"/v3/organizations/sessions/{hexid}")
    for path in (
        "/v3/organizations/org-1/sessions/insights",
        f"/v3/organizations/sessions/sessions/{hexid}",
        f"/v3/organizations/acme/sessions/{hexid}",
        f"/v3/organizations/org-1/sessions/{hexid}/events",
        f"/v3/organizations/org-1/sessions/{hexid}/",
        f"/v3/enterprise/sessions/{hexid}",
    ):
        assert _PATH.fullmatch(path) is None, path
    assert _page(b"") == (None, 100)
    assert _page(b"first=7&after=abc&other=1") == ("abc", 7)
    for query in (b"first=0", b"first=201", b"first=1&first=2", b"after=a&after=b", b"first=-1", b"first=1e2"):
        assert _page(query) is None, query
