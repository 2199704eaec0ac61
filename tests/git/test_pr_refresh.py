"""The refresh of open pull requests: its state lives in the database, so a refresher built after a restart picks
up where the last one stopped; a new state reaches the session's ``pull_requests`` and a ``git`` event."""

from codeyard.runner.pr_refresher import PullRequestRefresher
from codeyard.services.git_connections import ConnectionSpec
from codeyard.services.pull_requests import PushedBranch
from tests.conftest import ApiEnv
from tests.fakes.forge_server import ForgeServer

TOKEN = "refresh-token-0123456789"


async def test_a_new_refresher_finds_due_pull_requests_in_the_database(api: ApiEnv) -> None:
    with ForgeServer(TOKEN) as forge:
        connection = await api.services.git_connections.create(
            "tester", api.org_id, ConnectionSpec("forge.example:443", "github", f"{forge.url}/github", None, TOKEN)
        )
        created = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "refresh"})
        sid = created.json()["session_id"]
        pull = forge.forge._open("acme/app", "codeyard/x", "main", "T", "B", False)
        url = f"{forge.url}/web/acme/app/pull/{pull.number}"
        pushed = PushedBranch(
            "acme/app", connection.id, "acme/app", "codeyard/x", "main", "a" * 40, pull.number, url, "open"
        )
        await api.services.pull_requests.save(sid, api.org_id, pushed)

        api.settings.pr_refresh_seconds = 3600.0
        assert await PullRequestRefresher(api.settings, api.services).refresh_due() == 0  # checked just now

        api.settings.pr_refresh_seconds = 0.0  # as if an hour passed, and the server restarted meanwhile
        refresher = PullRequestRefresher(api.settings, api.services)
        assert await refresher.refresh_due() == 1
        session = (await api.client.get(api.org_path(f"/sessions/{sid}"), headers=api.auth())).json()
        assert session["pull_requests"] == [{"pr_url": url, "pr_state": "open", "url": url}]

        forge.forge.set_state("acme/app", pull.number, "closed")
        assert await refresher.refresh_due() == 1
        session = (await api.client.get(api.org_path(f"/sessions/{sid}"), headers=api.auth())).json()
        assert session["pull_requests"][0]["pr_state"] == "closed"
        events = (await api.client.get(api.org_path(f"/sessions/{sid}/events"), headers=api.auth())).json()["items"]
        assert [e["event_type"] for e in events if e["category"] == "git"] == [
            "pull_request_opened",
            "pull_request_state",
        ]
        assert await refresher.refresh_due() == 0  # a closed pull request is not asked again

        # a forge that refuses the token leaves the state as it was
        await api.services.git_connections.update(
            api.org_id, connection.id, ConnectionSpec(token="revoked-token"), {"token"}
        )
        other = forge.forge._open("acme/app", "codeyard/y", "main", "T", "B", False)
        url2 = f"{forge.url}/web/acme/app/pull/{other.number}"
        await api.services.pull_requests.save(
            sid,
            api.org_id,
            PushedBranch(
                "acme/app#2", connection.id, "acme/app", "codeyard/y", "main", "b" * 40, other.number, url2, "open"
            ),
        )
        forge.forge.set_state("acme/app", other.number, "merged")
        assert await refresher.refresh_due() == 1
        session = (await api.client.get(api.org_path(f"/sessions/{sid}"), headers=api.auth())).json()
        assert [p["pr_state"] for p in session["pull_requests"]] == ["closed", "open"]
