"""Wire rules of contract §3 that hold for every endpoint: ids, epoch ints, the list envelope, problem+json,
``X-Request-Id``, FastAPI's 422 shape, rate limits, tolerated headers and parameters, and org resolution."""

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from codeyard.api.app import create_app
from codeyard.cli.server import prepare
from codeyard.config import Settings
from codeyard.services.container import Services
from codeyard.services.principal import Role
from tests.conftest import ApiEnv, LiveServer, make_settings

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}
HEX_ID = re.compile(r"^devin-[0-9a-f]{32}$")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def app_client(
    settings: Settings, clock: Callable[[], float] | None = None
) -> AsyncIterator[tuple[httpx2.AsyncClient, Services, dict[str, Any]]]:
    """An app built from ``settings`` (optionally on ``clock``), a client for it, and its bootstrap keys."""
    db, prepared = await prepare(settings)
    services = Services(settings, db, clock=clock) if clock else prepared
    boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
    transport = httpx2.ASGITransport(app=create_app(settings, services))
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, services, boot
    finally:
        await db.dispose()


def assert_problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def new_session(api: ApiEnv, key: str | None = None, **fields: Any) -> dict[str, Any]:
    response = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(key), json={"prompt": "Fix the build", **fields}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- identifiers, timestamps, envelopes ----------------------------------------------------------------


async def test_session_ids_are_devin_hex_and_times_are_epoch_ints(api: ApiEnv) -> None:
    session = await new_session(api)
    assert HEX_ID.match(session["session_id"])
    assert type(session["created_at"]) is int and type(session["updated_at"]) is int
    assert abs(session["created_at"] - api.services.clock()) < 60
    messages = await api.client.get(api.org_path(f"/sessions/{session['session_id']}/messages"), headers=api.auth())
    item = messages.json()["items"][0]
    assert type(item["created_at"]) is int and isinstance(item["event_id"], str)


async def test_lists_use_the_pagination_envelope_and_refuse_a_bad_cursor(api: ApiEnv) -> None:
    session = await new_session(api)
    for suffix in (
        "/sessions",
        f"/sessions/{session['session_id']}/messages",
        f"/sessions/{session['session_id']}/events",
    ):
        path = api.org_path(suffix)
        page = (await api.client.get(path, headers=api.auth())).json()
        assert set(page) == {"items", "end_cursor", "has_next_page", "total"}
        assert page["items"] and page["has_next_page"] is False and page["end_cursor"] is None
        for cursor in ("not-a-cursor", "%%%", "cGs6LTE", "eHg6MTI", "cGs6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"):
            assert_problem(await api.client.get(path, headers=api.auth(), params={"after": cursor}), 400)


async def test_enterprise_organization_list_refuses_a_bad_cursor(api: ApiEnv) -> None:
    response = await api.client.get(
        "/v3/enterprise/organizations", headers=api.auth(api.enterprise_key), params={"after": "garbage!"}
    )
    assert_problem(response, 400)


async def test_page_size_outside_1_to_200_is_a_422(api: ApiEnv) -> None:
    for first in ("0", "201", "-1", "many"):
        response = await api.client.get(api.org_path("/sessions"), headers=api.auth(), params={"first": first})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "first"]


# -- errors and request ids ----------------------------------------------------------------------------


async def test_not_found_is_problem_json_with_request_id(api: ApiEnv) -> None:
    response = await api.client.get(api.org_path("/sessions/devin-" + "0" * 32), headers=api.auth())
    body = assert_problem(response, 404)
    assert body["instance"] == api.org_path("/sessions/devin-" + "0" * 32)
    assert body["title"] == "Not Found"


async def test_unknown_route_and_wrong_method_are_problems_with_string_detail(api: ApiEnv) -> None:
    assert_problem(await api.client.get("/v3/nothing-here", headers=api.auth()), 404)
    assert_problem(await api.client.patch(api.org_path("/sessions"), headers=api.auth(), json={}), 405)


async def test_every_response_carries_a_request_id(api: ApiEnv) -> None:
    responses = [
        await api.client.get("/v3/self", headers=api.auth()),
        await api.client.get("/v3/self"),
        await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={}),
        await api.client.get("/healthz"),
        await api.client.get("/sessions/not-an-id"),
        await api.client.get("/openapi.json"),
    ]
    ids = [r.headers.get("x-request-id", "") for r in responses]
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_sane_incoming_request_id_is_echoed_and_an_insane_one_replaced(api: ApiEnv) -> None:
    ok = await api.client.get("/v3/self", headers={**api.auth(), "X-Request-Id": "trace-42.a:b_c"})
    assert ok.headers["x-request-id"] == "trace-42.a:b_c"
    failed = await api.client.get("/v3/self", headers={"Authorization": "Bearer cog_nope", "X-Request-Id": "trace-43"})
    assert assert_problem(failed, 401)["request_id"] == "trace-43"
    for insane in ("has spaces in it", "x" * 200, "<script>"):
        response = await api.client.get("/v3/self", headers={**api.auth(), "X-Request-Id": insane})
        assert response.headers["x-request-id"].startswith("req_")


async def test_validation_errors_keep_fastapis_422_shape(api: ApiEnv) -> None:
    response = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"title": "no prompt"})
    assert response.status_code == 422
    assert response.headers["x-request-id"]
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["loc"] == ["body", "prompt"]
    assert detail[0]["type"] == "missing"
    assert isinstance(detail[0]["msg"], str)


HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("malformed JSON", b'{"prompt": '),
    ("not an object", b'["prompt"]'),
    ("wrong type", b'{"prompt": 42}'),
    ("wrong list type", b'{"prompt": "x", "tags": "not-a-list"}'),
    ("null prompt", b'{"prompt": null}'),
    ("empty prompt", b'{"prompt": ""}'),
    ("lone surrogate", b'{"prompt": "broken \\ud800 text"}'),
    ("NaN limit", b'{"prompt": "x", "max_acu_limit": NaN}'),
    ("infinite limit", b'{"prompt": "x", "max_acu_limit": 1e400}'),
    ("huge prompt", b'{"prompt": "' + b"a" * 1_000_001 + b'"}'),
    ("huge title", b'{"prompt": "x", "title": "' + b"t" * 5000 + b'"}'),
    ("huge tag", b'{"prompt": "x", "tags": ["' + b"t" * 300 + b'"]}'),
    ("deep nesting", b'{"prompt": "x", "tags": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    ("deep schema", b'{"prompt": "x", "structured_output_schema": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001),
    ("bad utf-8", b'{"prompt": "\xff\xfe"}'),
]


async def test_hostile_bodies_are_client_errors_never_server_errors(api: ApiEnv) -> None:
    headers = {**api.auth(), "Content-Type": "application/json"}
    for name, body in HOSTILE_BODIES:
        response = await api.client.post(api.org_path("/sessions"), headers=headers, content=body)
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
        assert response.headers["x-request-id"]
        assert isinstance(response.json()["detail"], list | str), name
    listed = await api.client.get(api.org_path("/sessions"), headers=api.auth())
    assert listed.json()["items"] == []


async def test_unicode_is_stored_and_returned_intact(api: ApiEnv) -> None:
    text = "Ünïcödé 日本語 🚀 \u202eRTL\u202c — done"
    session = await new_session(api, title=text, tags=["日本", "🚀"])
    fetched = (await api.client.get(api.org_path(f"/sessions/{session['session_id']}"), headers=api.auth())).json()
    assert fetched["title"] == text
    assert fetched["tags"] == ["日本", "🚀"]
    found = await api.client.get(api.org_path("/sessions"), headers=api.auth(), params={"tags": "🚀"})
    assert [s["session_id"] for s in found.json()["items"]] == [session["session_id"]]


async def test_hostile_query_values_are_client_errors(api: ApiEnv) -> None:
    session = await new_session(api)
    cases = [
        ("/sessions", {"created_after": "9" * 40}),
        ("/sessions", {"is_archived": "perhaps"}),
        ("/sessions", {"first": "1e9"}),
        ("/sessions", {"after": "\u00e9\u00e9"}),
        (f"/sessions/{session['session_id']}/events", {"created_before": "-" + "9" * 30}),
    ]
    for suffix, params in cases:
        response = await api.client.get(api.org_path(suffix), headers=api.auth(), params=params)
        assert 400 <= response.status_code < 500, (suffix, params, response.text)


# -- rate limits -----------------------------------------------------------------------------------------


async def test_requests_over_the_per_key_limit_get_429_with_headers(tmp_path: Path) -> None:
    async with app_client(make_settings(tmp_path, rate_limit="5/minute")) as (client, services, boot):
        org_key = {"Authorization": f"Bearer {boot['org_api_key']}"}
        remaining = []
        for _ in range(5):
            ok = await client.get("/v3/self", headers=org_key)
            assert ok.status_code == 200
            assert ok.headers["x-ratelimit-limit"] == "5"
            remaining.append(int(ok.headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        limited = await client.get("/v3/self", headers=org_key)
        body = assert_problem(limited, 429)
        assert "too many" in body["detail"]
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["x-ratelimit-limit"] == "5"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert int(limited.headers["x-ratelimit-reset"]) >= int(services.clock())
        # The limit is per key: the enterprise key is not affected by the org key's burst.
        other = await client.get("/v3/self", headers={"Authorization": f"Bearer {boot['enterprise_api_key']}"})
        assert other.status_code == 200


async def test_failed_authentication_is_limited_per_address(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth_failure_limit="3/minute")
    async with app_client(settings) as (client, _, boot):
        for _ in range(3):
            assert_problem(await client.get("/v3/self", headers={"Authorization": "Bearer cog_wrong"}), 401)
        blocked = await client.get("/v3/self", headers={"Authorization": "Bearer cog_wrong"})
        assert "failed authentication" in assert_problem(blocked, 429)["detail"]
        assert int(blocked.headers["retry-after"]) >= 1
        # Guessing stays blocked, but a valid key from the same address is never refused for others' failures.
        valid = await client.get("/v3/self", headers={"Authorization": f"Bearer {boot['org_api_key']}"})
        assert valid.status_code == 200


async def test_a_burst_from_several_keys_is_limited_per_key(tmp_path: Path) -> None:
    async with app_client(make_settings(tmp_path, rate_limit="3/minute")) as (client, _, boot):
        keys = [boot["org_api_key"], boot["enterprise_api_key"]]
        statuses: dict[str, list[int]] = {k: [] for k in keys}
        for _ in range(5):
            for key in keys:
                response = await client.get("/v3/self", headers={"Authorization": f"Bearer {key}"})
                statuses[key].append(response.status_code)
        assert all(s == [200, 200, 200, 429, 429] for s in statuses.values()), statuses


# -- authentication ----------------------------------------------------------------------------------------


async def test_missing_or_bad_credentials_are_401_problems(api: ApiEnv) -> None:
    headers: list[dict[str, str]] = [{}] + [
        {"Authorization": value}
        for value in (
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Token cog_abc",
            "Bearer apk_legacy",
            "Bearer cog_no",
        )
    ]
    for header in headers:
        response = await api.client.get(api.org_path("/sessions"), headers=header)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    # The scheme's spelling does not matter.
    assert (await api.client.get("/v3/self", headers={"Authorization": f"bearer {api.org_key}"})).status_code == 200


async def test_revoked_key_is_refused(api: ApiEnv) -> None:
    user = await api.services.identity.create_service_user("ci", Role.ORG_MEMBER, api.org_id)
    issued = await api.services.identity.issue_key(user.id)
    assert (await api.client.get("/v3/self", headers=api.auth(issued.token))).status_code == 200
    await api.services.identity.revoke_key(issued.api_key_id)
    body = assert_problem(await api.client.get("/v3/self", headers=api.auth(issued.token)), 401)
    assert "revoked" in body["detail"]


async def test_expired_key_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    async with app_client(make_settings(tmp_path), clock=clock) as (client, services, boot):
        user = await services.identity.create_service_user("short-lived", Role.ORG_MEMBER, boot["org_id"])
        issued = await services.identity.issue_key(user.id, ttl_seconds=60)
        headers = {"Authorization": f"Bearer {issued.token}"}
        assert (await client.get("/v3/self", headers=headers)).status_code == 200
        clock.now += 59
        assert (await client.get("/v3/self", headers=headers)).status_code == 200
        clock.now += 1
        assert "expired" in assert_problem(await client.get("/v3/self", headers=headers), 401)["detail"]


# -- tolerated requests -----------------------------------------------------------------------------------


async def test_unknown_query_parameters_are_ignored(api: ApiEnv) -> None:
    # The devin-handoff plugin checks keys with ``?limit=1``, a parameter v3 does not have.
    response = await api.client.get(api.org_path("/sessions"), headers=api.auth(), params={"limit": 1, "zzz": "q"})
    assert response.status_code == 200
    response = await api.client.get("/v3/self", headers=api.auth(), params={"verbose": "yes"})
    assert response.status_code == 200


async def test_json_content_type_on_a_get_and_an_empty_post_is_tolerated(api: ApiEnv) -> None:
    session = await new_session(api)
    headers = {**api.auth(), "Content-Type": "application/json"}
    got = await api.client.get(api.org_path(f"/sessions/{session['session_id']}"), headers=headers)
    assert got.status_code == 200
    archived = await api.client.post(api.org_path(f"/sessions/{session['session_id']}/archive"), headers=headers)
    assert archived.status_code == 200, archived.text
    assert archived.json()["is_archived"] is True


# -- organization resolution -------------------------------------------------------------------------------


async def test_org_key_may_omit_the_org_segment(api: ApiEnv) -> None:
    created = await api.client.post("/v3/organizations/sessions", headers=api.auth(), json={"prompt": "org-less"})
    assert created.status_code == 200
    assert created.json()["org_id"] == api.org_id
    sid = created.json()["session_id"]
    listed = await api.client.get("/v3/organizations/sessions", headers=api.auth())
    assert [s["session_id"] for s in listed.json()["items"]] == [sid]
    assert (await api.client.get(f"/v3/organizations/sessions/{sid}", headers=api.auth())).status_code == 200
    with_org = await api.client.get(api.org_path(f"/sessions/{sid}"), headers=api.auth())
    assert with_org.json() == (await api.client.get(f"/v3/organizations/sessions/{sid}", headers=api.auth())).json()


async def test_enterprise_key_must_name_the_org(api: ApiEnv) -> None:
    response = await api.client.get("/v3/organizations/sessions", headers=api.auth(api.enterprise_key))
    assert "organization" in assert_problem(response, 400)["detail"]


async def test_a_path_naming_another_org_is_403(api: ApiEnv) -> None:
    other_org, _ = await api.new_org()
    member = await api.key(Role.ORG_MEMBER)
    for key in (api.org_key, member):
        response = await api.client.get(api.org_path("/sessions", other_org), headers=api.auth(key))
        assert_problem(response, 403)
    # Also for an org that does not exist: the key cannot tell which orgs exist.
    missing = await api.client.get(api.org_path("/sessions", "org-doesnotexist"), headers=api.auth())
    assert_problem(missing, 403)


async def test_enterprise_key_reaches_every_org(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    for org in (api.org_id, other_org):
        created = await api.client.post(
            api.org_path("/sessions", org), headers=api.auth(api.enterprise_key), json={"prompt": f"in {org}"}
        )
        assert created.status_code == 200
        assert created.json()["org_id"] == org
    theirs = await api.client.get(api.org_path("/sessions", other_org), headers=api.auth(other_key))
    assert [s["title"] for s in theirs.json()["items"]] == [f"in {other_org}"]
    missing = await api.client.get(api.org_path("/sessions", "org-doesnotexist"), headers=api.auth(api.enterprise_key))
    assert_problem(missing, 404)


async def test_deleted_org_keys_stop_working(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    assert (await api.client.get("/v3/self", headers=api.auth(other_key))).status_code == 200
    deleted = await api.client.delete(f"/v3/enterprise/organizations/{other_org}", headers=api.auth(api.enterprise_key))
    assert deleted.status_code == 200
    assert_problem(await api.client.get("/v3/self", headers=api.auth(other_key)), 401)


# -- error handling as the Devin common-flows page does it, against a live server ----------------------------


@pytest.mark.slow
def test_common_flow_error_handling_against_a_live_server(live_server: LiveServer) -> None:
    """The docs' error-handling flow: branch on 401/403/404/422/429 and read a string ``detail``."""
    with httpx2.Client(base_url=live_server.url, timeout=10) as http:
        headers = {"Authorization": f"Bearer {live_server.org_key}", "Content-Type": "application/json"}
        org = live_server.org_id
        outcomes = {
            401: http.get(f"/v3/organizations/{org}/sessions", headers={"Authorization": "Bearer cog_invalid"}),
            403: http.get("/v3/enterprise/organizations", headers=headers),
            404: http.get(f"/v3/organizations/{org}/sessions/devin-{'a' * 32}", headers=headers),
            422: http.post(f"/v3/organizations/{org}/sessions", headers=headers, json={}),
        }
        for status, response in outcomes.items():
            assert response.status_code == status
            assert response.headers["x-request-id"]
            detail = response.json()["detail"]
            assert isinstance(detail, str if status != 422 else list), detail
        ok = http.get(f"/v3/organizations/{org}/sessions", headers=headers, params={"limit": 1})
        assert ok.status_code == 200
        assert int(ok.headers["x-ratelimit-remaining"]) >= 0
