"""Regressions from the fault and fuzzing campaign of issue 12: hostile input that reached a 500, and failed
logins from one address that locked out every valid key behind it."""

from typing import Any

import pytest

from codeyard.services.pagination import encode_cursor
from tests.conftest import ApiEnv

LONE = "\\ud800"
"""A JSON escape of a lone UTF-16 surrogate, as raw body text (Python's encoder would refuse the character)."""


async def raw_post(api: ApiEnv, path: str, body: str, key: str | None = None, method: str = "POST") -> Any:
    headers = {**api.auth(key), "Content-Type": "application/json"}
    return await api.client.request(method, path, headers=headers, content=body.encode())


@pytest.mark.parametrize("signature", ["%C3%A9", "\u00e9", "\u2603" * 43])
async def test_a_non_ascii_link_signature_is_403(api: ApiEnv, signature: str) -> None:
    path = "/files/2f1e0c9e-8a57-4a6e-9d0e-2f2c1b7f7a10/x.txt"
    r = await api.client.get(f"{path}?expires=1&signature={signature}")
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"


async def test_non_ascii_digits_in_expires_are_403(api: ApiEnv) -> None:
    r = await api.client.get("/files/2f1e0c9e-8a57-4a6e-9d0e-2f2c1b7f7a10/x.txt?expires=%C2%B2&signature=abc")
    assert r.status_code == 403


SURROGATE_BODIES = [
    ("/secrets", f'{{"key": "K1", "value": "{LONE}"}}', ["body", "value"]),
    ("/secrets", f'{{"key": "K1", "value": "v", "note": "a{LONE}b"}}', ["body", "note"]),
    ("/sessions", f'{{"prompt": "{LONE}"}}', ["body", "prompt"]),
    ("/sessions", f'{{"prompt": "p", "tags": ["ok", "{LONE}"]}}', ["body", "tags", 1]),
    (
        "/sessions",
        f'{{"prompt": "p", "session_secrets": [{{"key": "K", "value": "{LONE}"}}]}}',
        ["body", "session_secrets", 0, "value"],
    ),
    ("/sessions", f'{{"prompt": "p", "structured_output_schema": {{"{LONE}": 1}}}}', None),
    ("/knowledge/notes", f'{{"name": "n", "body": "{LONE}", "trigger": "t"}}', ["body", "body"]),
    ("/playbooks", f'{{"title": "{LONE}", "body": "b"}}', ["body", "title"]),
    ("/schedules", f'{{"prompt": "{LONE}", "frequency": "0 * * * *"}}', ["body", "prompt"]),
]


@pytest.mark.parametrize(("path", "body", "loc"), SURROGATE_BODIES)
async def test_a_lone_surrogate_in_any_string_field_is_422(
    api: ApiEnv, path: str, body: str, loc: list[Any] | None
) -> None:
    r = await raw_post(api, api.org_path(path), body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["type"] == "string_unicode"
    if loc is not None:
        assert detail[0]["loc"] == loc


async def test_a_lone_surrogate_in_a_message_and_an_org_name_is_422(api: ApiEnv) -> None:
    created = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p"})
    session_id = created.json()["session_id"]
    r = await raw_post(api, api.org_path(f"/sessions/{session_id}/messages"), f'{{"message": "{LONE}"}}')
    assert r.status_code == 422
    r = await raw_post(api, "/v3/enterprise/organizations", f'{{"name": "{LONE}"}}', key=api.enterprise_key)
    assert r.status_code == 422


async def test_paired_surrogate_escapes_are_ordinary_text(api: ApiEnv) -> None:
    r = await raw_post(api, api.org_path("/secrets"), '{"key": "EMOJI", "value": "\\ud83d\\ude00"}')
    assert r.status_code == 200, r.text
    r = await raw_post(api, api.org_path("/sessions"), '{"prompt": "a \\\\ud800 that is only text"}')
    assert r.status_code == 200, r.text
    assert (
        await api.client.get(api.org_path(f"/sessions/{r.json()['session_id']}/messages"), headers=api.auth())
    ).json()["items"][0]["message"] == "a \\ud800 that is only text"


def nested(depth: int) -> str:
    """A schema nesting ``depth`` objects, as JSON text (``json.dumps`` itself recurses)."""
    return '{"type": "object", "properties": {"a": ' * (depth - 1) + '{"type": "string"}' + "}}" * (depth - 1)


@pytest.mark.parametrize("depth", [33, 157, 400])
async def test_a_deeply_nested_output_schema_is_422(api: ApiEnv, depth: int) -> None:
    body = f'{{"prompt": "p", "structured_output_schema": {nested(depth)}}}'
    r = await raw_post(api, api.org_path("/sessions"), body)
    assert r.status_code == 422, r.text[:300]
    assert r.json()["detail"][0]["loc"][-1] == "structured_output_schema"
    assert "nested deeper" in r.json()["detail"][0]["msg"]


async def test_json_too_deep_to_parse_is_a_400_problem(api: ApiEnv) -> None:
    body = f'{{"prompt": "p", "structured_output_schema": {nested(5000)}}}'
    r = await raw_post(api, api.org_path("/sessions"), body)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"


async def test_a_moderately_nested_output_schema_is_accepted(api: ApiEnv) -> None:
    body = f'{{"prompt": "p", "structured_output_schema": {nested(10)}}}'
    assert (await raw_post(api, api.org_path("/sessions"), body)).status_code == 200


async def test_failed_logins_from_an_address_never_lock_out_a_valid_key(api: ApiEnv) -> None:
    """The default limit is 30 failures a minute per address: the 31st failure is refused, a valid key is not."""
    statuses = []
    for _ in range(32):
        r = await api.client.get("/v3/self", headers={"Authorization": "Bearer cog_wrong"})
        statuses.append(r.status_code)
    assert statuses[:30] == [401] * 30
    assert statuses[30:] == [429, 429]
    assert "Retry-After" in r.headers
    ok = await api.client.get("/v3/self", headers=api.auth())
    assert ok.status_code == 200
    enterprise = await api.client.get("/v3/self", headers=api.auth(api.enterprise_key))
    assert enterprise.status_code == 200
    missing = await api.client.get("/v3/self")
    assert missing.status_code == 429


HUGE = 2**53
"""The largest epoch a query accepts: far past the 32-bit columns of PostgreSQL (a day column is ``integer``)."""


async def test_the_largest_accepted_epochs_answer_on_every_database(api: ApiEnv) -> None:
    session = (await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p"})).json()
    await api.services.runs.add_working_time(session["session_id"], 15 * 60)
    window = {"time_after": HUGE - 86400, "time_before": HUGE}
    org_reads = [
        "/consumption/daily",
        f"/consumption/daily/sessions/{session['session_id']}",
        "/metrics/active-users",
        "/metrics/usage",
        "/metrics/sessions",
    ]
    for path in org_reads:
        r = await api.client.get(api.org_path(path), headers=api.auth(), params=window)
        assert r.status_code == 200, (path, r.text)
        r = await api.client.get(api.org_path(path), headers=api.auth(), params={"time_after": 0, "time_before": HUGE})
        assert r.status_code == 200 or "five years" in r.text, (path, r.text)  # metrics bound their window
    enterprise = api.auth(api.enterprise_key)
    for path in ("/v3/enterprise/consumption/daily", f"/v3/enterprise/consumption/daily/organizations/{api.org_id}"):
        for params in (window, {"time_after": 0, "time_before": HUGE}):
            r = await api.client.get(path, headers=enterprise, params=params)
            assert r.status_code == 200, (path, params, r.text)
    everything = await api.client.get(
        "/v3/enterprise/consumption/daily", headers=enterprise, params={"time_after": 0, "time_before": HUGE}
    )
    assert everything.json()["total_acus"] == 1.0
    for name in ("created_after", "created_before", "updated_after", "updated_before"):
        r = await api.client.get(api.org_path("/sessions"), headers=api.auth(), params={name: HUGE})
        assert r.status_code == 200, (name, r.text)


async def test_a_cursor_past_every_key_pages_on_every_database(api: ApiEnv) -> None:
    await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p"})
    for pk in (2**31, 10**18 - 1):
        after = encode_cursor(pk)
        for path in ("/sessions", "/knowledge/notes", "/schedules", "/secrets", "/playbooks"):
            r = await api.client.get(api.org_path(path), headers=api.auth(), params={"after": after})
            assert r.status_code == 200, (path, pk, r.text)
            first = await api.client.get(api.org_path(path), headers=api.auth())
            # newest-first lists continue with everything older, oldest-first ones have nothing after it
            assert r.json()["items"] in ([], first.json()["items"]), path
