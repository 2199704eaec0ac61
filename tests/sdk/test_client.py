"""Client configuration: where requests go, what headers they carry, and where the key never appears."""

import httpx2
import pytest

from codeyard.sdk import APIConnectionError, Client, ConfigurationError, NotFoundError, __version__
from tests.sdk.fake_api import API_KEY, ORG, FakeAPI, Reply

SELF = {"principal_type": "service_user", "service_user_id": "service-user-1", "service_user_name": "ci", "org_id": ORG}


def test_whoami_sends_bearer_key_and_user_agent(api: FakeAPI, client: Client) -> None:
    api.on("GET", "/v3/self", Reply(json=SELF))

    principal = client.whoami()

    assert (principal.service_user_id, principal.org_id) == ("service-user-1", ORG)
    (request,) = api.requests_to("GET", "/v3/self")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"] == f"codeyard-sdk/{__version__}"


def test_org_paths_include_the_org_id_when_known(api: FakeAPI, client: Client) -> None:
    api.on("GET", f"/v3/organizations/{ORG}/playbooks", Reply(json={"items": []}))

    assert client.playbooks.list().items == []
    assert len(api.requests_to("GET", f"/v3/organizations/{ORG}/playbooks")) == 1


def test_org_paths_omit_the_org_segment_without_an_org_id(api: FakeAPI) -> None:
    # An org-scoped key resolves its own organization from `/v3/organizations/...`.
    api.on("GET", "/v3/organizations/playbooks", Reply(json={"items": []}))

    with Client(api.url, API_KEY) as client:
        client.playbooks.list()

    assert len(api.requests_to("GET", "/v3/organizations/playbooks")) == 1


def test_settings_come_from_the_environment(api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVIN_API_URL", api.url + "/")
    monkeypatch.setenv("DEVIN_API_KEY", "cog_from_env")
    monkeypatch.setenv("DEVIN_ORG_ID", "org-env")
    api.on("GET", "/v3/organizations/org-env/secrets", Reply(json={"items": []}))

    with Client() as client:
        client.secrets.list()

    (request,) = api.requests_to("GET", "/v3/organizations/org-env/secrets")
    assert request.headers["authorization"] == "Bearer cog_from_env"


def test_constructor_arguments_win_over_the_environment(api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVIN_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DEVIN_API_KEY", "cog_from_env")
    monkeypatch.setenv("DEVIN_ORG_ID", "org-env")

    client = Client(api.url, "cog_explicit", "org-explicit")

    assert (client.base_url, client.org_id) == (api.url, "org-explicit")
    client.close()


def test_default_base_url_is_the_local_server() -> None:
    with Client(api_key=API_KEY) as client:
        assert client.base_url == "http://127.0.0.1:8000"
        assert client.org_id is None


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="DEVIN_API_KEY"):
        Client()


def test_repr_never_shows_the_key(api: FakeAPI, client: Client) -> None:
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(client._options)
    assert repr(client) == f"Client(base_url='{api.url}', org_id='{ORG}')"


def test_enterprise_organizations_use_the_enterprise_paths(api: FakeAPI, client: Client) -> None:
    org = {"org_id": "org-2", "name": "platform", "created_at": 1, "updated_at": 2}
    api.on("POST", "/v3/enterprise/organizations", Reply(json=org))
    api.on("PATCH", "/v3/enterprise/organizations/org-2", Reply(json={**org, "max_session_acu_limit": None}))
    api.on("DELETE", "/v3/enterprise/organizations/org-2", Reply(status=204))

    created = client.organizations.create(name="platform", max_cycle_acu_limit=100)
    client.organizations.update("org-2", max_session_acu_limit=None)
    client.organizations.delete("org-2")

    assert created.org_id == "org-2"
    assert api.requests_to("POST", "/v3/enterprise/organizations")[0].json() == {
        "name": "platform",
        "max_cycle_acu_limit": 100,
    }
    # PATCH sends only what was given; None is sent as null to clear the limit.
    assert api.requests_to("PATCH", "/v3/enterprise/organizations/org-2")[0].json() == {"max_session_acu_limit": None}
    assert len(api.requests_to("DELETE", "/v3/enterprise/organizations/org-2")) == 1


def test_path_parameters_are_escaped(api: FakeAPI, client: Client) -> None:
    # Unescaped, "../secrets" would be normalised into a request for the secrets list.
    with pytest.raises(NotFoundError):
        client.playbooks.get("../secrets")

    assert api.requests_to("GET", f"/v3/organizations/{ORG}/secrets") == []
    assert [r.path for r in api.requests] == [f"/v3/organizations/{ORG}/playbooks/../secrets"]


def test_a_key_read_from_a_crlf_file_is_sent_without_its_line_end(api: FakeAPI) -> None:
    api.on("GET", "/v3/self", Reply(json=SELF))

    with Client(api.url, f" {API_KEY}\r\n", ORG) as client:
        client.whoami()

    assert api.requests_to("GET", "/v3/self")[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("bad", ["\x7f", "\r", "é", "\x00", "\t"])
def test_a_key_that_cannot_go_in_a_header_is_refused_without_quoting_it(api: FakeAPI, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="printable ASCII") as raised:
        Client(api.url, API_KEY[:8] + bad + API_KEY[8:])

    assert API_KEY[8:] not in str(raised.value) and API_KEY[:8] not in str(raised.value)
    assert api.requests == []


def test_a_request_httpx_refuses_to_send_never_quotes_its_headers() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.LocalProtocolError(f"Illegal header value {request.headers['authorization']!r}")

    http = httpx2.Client(transport=httpx2.MockTransport(refuse))
    with (
        Client("http://127.0.0.1:9", API_KEY, ORG, http_client=http) as client,
        pytest.raises(APIConnectionError) as raised,
    ):
        client.whoami()

    assert API_KEY not in str(raised.value)
    assert "not valid HTTP" in str(raised.value)


@pytest.mark.parametrize("url", ["http://[::1", "ftp://127.0.0.1", "localhost:8000", "http://"])
def test_an_unusable_api_url_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DEVIN_API_URL", url)
    with pytest.raises(ConfigurationError, match="DEVIN_API_URL"):
        Client(api_key=API_KEY)
