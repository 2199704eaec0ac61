"""Regressions found in review: hostile input that reached a 500 or a broken session, secrets in logs and 422s."""

import logging
from pathlib import Path

import httpx2
import pytest
import structlog
from starlette.types import Receive, Scope, Send

from codeyard import logs
from codeyard.api.request_id import RequestIdMiddleware
from codeyard.errors import BadRequestError
from codeyard.runner.workspace import prepare
from tests.conftest import ApiEnv


async def test_secret_values_with_nul_are_refused(api: ApiEnv) -> None:
    r = await api.client.post(api.org_path("/secrets"), headers=api.auth(), json={"key": "K1", "value": "a\u0000b"})
    assert r.status_code == 422
    assert "a\u0000b" not in r.text


@pytest.mark.parametrize("secret", [{"key": "A=B", "value": "v"}, {"key": "K", "value": "x\u0000y"}])
async def test_session_secrets_must_be_usable_as_environment_variables(api: ApiEnv, secret: dict[str, str]) -> None:
    r = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "session_secrets": [secret]}
    )
    assert r.status_code == 422
    assert secret["value"] not in r.text


async def test_a_rejected_session_secret_value_is_not_echoed(api: ApiEnv) -> None:
    value = "S" * 70_000
    r = await api.client.post(
        api.org_path("/sessions"),
        headers=api.auth(),
        json={"prompt": "p", "session_secrets": [{"key": "K", "value": value}]},
    )
    assert r.status_code == 422
    assert "SSSSSSSSSS" not in r.text


@pytest.mark.parametrize(
    "schema",
    [{"$ref": "#/definitions/missing"}, {"$ref": "file:///etc/passwd"}, {"$ref": "https://x/s.json"}, {"$ref": "#"}],
)
async def test_structured_output_schemas_must_resolve_inside_themselves(api: ApiEnv, schema: dict[str, str]) -> None:
    r = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "structured_output_schema": schema}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "structured_output_schema"


async def test_oversized_schedule_numbers_are_422(api: ApiEnv) -> None:
    huge = 9_223_372_036_854_775_808
    r = await api.client.post(
        api.org_path("/schedules"),
        headers=api.auth(),
        json={"prompt": "p", "frequency": "* * * * *", "interval_count": huge},
    )
    assert r.status_code == 422
    r = await api.client.get(api.org_path("/schedules"), headers=api.auth(), params={"offset": huge})
    assert r.status_code == 422


async def test_an_unexpected_error_is_a_500_problem_with_the_request_id() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    transport = httpx2.ASGITransport(app=RequestIdMiddleware(broken))
    async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/x", headers={"X-Request-Id": "req-abc"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "req-abc"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["request_id"] == "req-abc" and isinstance(r.json()["detail"], str)


async def test_key_lifetimes_must_be_positive_and_finite(api: ApiEnv) -> None:
    user = (await api.services.identity.list_service_users(api.org_id))[0]
    for ttl in (float("nan"), float("inf"), -5.0, 0.0):
        with pytest.raises(BadRequestError):
            await api.services.identity.issue_key(user.id, ttl_seconds=ttl)


def test_logged_tracebacks_show_no_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("console")
    try:
        secret_env = {"TOKEN": "local-secret-4242"}  # noqa: F841 - a local that a rich traceback would print
        raise ValueError("failure")
    except ValueError:
        structlog.get_logger("test").exception("session crashed")
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "session crashed" in err and "ValueError" in err
    assert "local-secret-4242" not in err


async def test_attachments_with_one_name_get_distinct_paths(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.write_text("first version")
    second.write_text("second version")
    ws = await prepare(
        tmp_path / "ws", [], [("a.txt", first), ("a.txt", second)], git_base_url="https://h", allow_local=False
    )
    assert [p.name for p in ws.files] == ["a.txt", "a-2.txt"]
    assert [p.read_text() for p in ws.files] == ["first version", "second version"]
    again = await prepare(
        tmp_path / "ws", [], [("a.txt", first), ("a.txt", second)], git_base_url="https://h", allow_local=False
    )
    assert again.files == ws.files  # on resume each upload keeps its path
