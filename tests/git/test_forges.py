"""The forge clients against the scripted forge over real HTTP: open, update the same PR, read its state, and a
refused token reported as such."""

from collections.abc import Iterator

import pytest

from codeyard.runner.forges import Forge, ForgeAuthError, GiteaForge, GitHubForge, GitLabForge
from tests.fakes.forge_server import ForgeServer

TOKEN = "forge-token-0123456789"


@pytest.fixture(scope="module")
def forge() -> Iterator[ForgeServer]:
    with ForgeServer(TOKEN) as server:
        yield server


def client(kind: str, url: str, token: str = TOKEN) -> Forge:
    if kind == "github":
        return GitHubForge(f"{url}/github", token)
    if kind == "gitlab":
        return GitLabForge(f"{url}/gitlab", token)
    return GiteaForge(f"{url}/gitea/api/v1", token)


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
async def test_open_update_and_state(forge: ForgeServer, kind: str) -> None:
    project = f"team-{kind}/app"
    api = client(kind, forge.url)
    first = await api.open_or_update(project, "codeyard/abc-fix", "main", "Fix add", "It subtracted.", False)
    assert first.state == "open" and first.url.startswith(forge.url)
    # not knowing the number: the forge says the branch has a PR, which is then updated
    again = await api.open_or_update(project, "codeyard/abc-fix", "main", "Fix it", "It subtracted.", False)
    assert again.number == first.number
    # knowing it: updated directly
    third = await api.open_or_update(
        project, "codeyard/abc-fix", "main", "Fix add()", "It subtracted; now adds.", False, first.number
    )
    assert third.number == first.number
    pulls = [p for p in forge.forge.pulls if p.project == project]
    assert len(pulls) == 1
    assert (pulls[0].title, pulls[0].body, pulls[0].base) == ("Fix add()", "It subtracted; now adds.", "main")
    assert await api.state(project, first.number) == "open"
    forge.forge.set_state(project, first.number, "merged")
    assert await api.state(project, first.number) == "merged"
    assert all(r.authorized for r in forge.forge.requests if project in r.path or project.replace("/", "%2F") in r.path)


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
async def test_a_wrong_token_is_an_auth_error(forge: ForgeServer, kind: str) -> None:
    with pytest.raises(ForgeAuthError) as caught:
        await client(kind, forge.url, "wrong-token").open_or_update("o/r", "b", "main", "t", "b", False)
    assert "wrong-token" not in str(caught.value)


async def test_draft_pull_requests(forge: ForgeServer) -> None:
    await client("github", forge.url).open_or_update("drafts/app", "codeyard/d", "main", "WIP", "body", True)
    assert forge.forge.pull("drafts/app", "codeyard/d") is not None
    assert forge.forge.pull("drafts/app", "codeyard/d").draft  # type: ignore[union-attr]
