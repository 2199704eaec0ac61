"""The page behind each session's ``url`` (contract §4): HTML without session data, strict headers, both id forms."""

from tests.conftest import ApiEnv


async def test_session_url_opens_the_page_in_both_id_forms(api: ApiEnv) -> None:
    created = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "Rotate the signing keys of prod"}
    )
    session = created.json()
    sid = session["session_id"]
    page_path = session["url"].removeprefix("http://testserver")
    for path in (page_path, f"/sessions/{sid}", f"/sessions/{sid.removeprefix('devin-').upper()}"):
        response = await api.client.get(path)  # no Authorization: the page holds no data
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert f'<body data-session="{sid}">' in html
        assert '<h1 id="title">Session</h1>' in html and "<title>Session · codeyard</title>" in html
        assert "Rotate the signing keys" not in html and api.org_id not in html and api.org_key not in html
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "<script>" not in html and " on" not in html.split("<body", 1)[1].split(">", 1)[0]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"


async def test_a_garbage_session_id_is_a_404_problem(api: ApiEnv) -> None:
    for garbage in ("not-a-session", "devin-xyz", "devin-" + "a" * 31, "</script><script>alert(1)</script>", "a" * 33):
        response = await api.client.get(f"/sessions/{garbage}")
        assert response.status_code == 404, garbage
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == 404 and isinstance(body["detail"], str)
        assert not response.headers["content-type"].startswith("text/html")
