"""Pull requests on the forges (contract §10): GitHub through githubkit, GitLab through python-gitlab, Gitea and
Forgejo through their REST API. Each call runs in the runner, with the connection's token, never in a sandbox."""

import asyncio
import functools
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import httpx2

from codeyard.services.git_connections import Credentials

if TYPE_CHECKING:  # imported where used: together they take seconds to import, which `serve` should not pay
    import githubkit
    import gitlab
    import httpx
    from githubkit.exception import RequestFailed

TIMEOUT = 30.0
KEEPALIVE = 30.0
"""Seconds an idle connection to a forge's API stays open for the next call."""


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One context for every forge call (the system's trust store, so a private CA of a self-hosted forge works):
    building one per client costs more than the API call itself."""
    return ssl.create_default_context()


class _KeptAlive:
    """The connection pool every GitHub client of one event loop sends through: a client closing leaves it open, so
    the next pull request (of any session) reuses the connection instead of connecting and shaking hands again."""

    def __init__(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=KEEPALIVE)
        self.pool = httpx.AsyncHTTPTransport(verify=_ssl_context(), trust_env=False, limits=limits)

    async def handle_async_request(self, request: "httpx.Request") -> "httpx.Response":
        return await self.pool.handle_async_request(request)

    async def __aenter__(self) -> "_KeptAlive":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Left open for the next client."""

    async def aclose(self) -> None:
        """Left open for the next client."""


_kept_alive: tuple[asyncio.AbstractEventLoop, _KeptAlive] | None = None


def _github_transport() -> Any:
    """The running loop's ``_KeptAlive`` (a pool's connections belong to the loop that opened them)."""
    global _kept_alive
    loop = asyncio.get_running_loop()
    if _kept_alive is None or _kept_alive[0] is not loop:
        _kept_alive = (loop, _KeptAlive())
    return _kept_alive[1]


@dataclass(frozen=True)
class ForgePullRequest:
    number: int
    url: str
    state: str
    """``open``, ``merged`` or ``closed``."""


class ForgeAuthError(Exception):
    """The forge refused the token (401/403)."""


class ForgeError(Exception):
    """The forge could not do what was asked; the message never carries the token."""


class Forge(Protocol):
    async def open_or_update(
        self, project: str, branch: str, base: str, title: str, body: str, draft: bool, number: int | None = None
    ) -> ForgePullRequest:
        """Update pull request ``number`` (when this session opened one) or open one for ``branch``; an open pull
        request of the branch that already exists is updated instead."""
        ...

    async def state(self, project: str, number: int) -> str: ...


def _split(project: str) -> tuple[str, str]:
    owner, _, name = project.rpartition("/")
    if not owner or not name:
        raise ForgeError(f"{project[:200]!r} is not an owner/repo path")
    return owner, name


class GitHubForge:
    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url
        self.token = token

    def _client(self) -> "githubkit.GitHub[Any]":
        import githubkit

        return githubkit.GitHub(
            githubkit.TokenAuthStrategy(self.token),
            base_url=self.api_url.rstrip("/") + "/",
            follow_redirects=False,
            trust_env=False,
            http_cache=False,
            ssl_verify=_ssl_context(),
            async_transport=_github_transport(),
            auto_retry=False,
            timeout=TIMEOUT,
        )

    async def open_or_update(
        self, project: str, branch: str, base: str, title: str, body: str, draft: bool, number: int | None = None
    ) -> ForgePullRequest:
        from githubkit.exception import GitHubException, RequestFailed

        owner, name = _split(project)
        update = {"title": title, "body": body}
        try:
            async with self._client() as gh:
                if number is None:
                    try:
                        data = {"title": title, "body": body, "head": branch, "base": base, "draft": draft}
                        return _github_pr((await gh.rest.pulls.async_create(owner, name, data=data)).json())
                    except RequestFailed as exc:
                        if exc.response.status_code != 422:  # 422: a pull request of this branch exists
                            raise
                    found = await gh.rest.pulls.async_list(owner, name, head=f"{owner}:{branch}", state="open")
                    existing = found.json()
                    if not existing:
                        raise ForgeError(f"GitHub refused to open a pull request from {branch} into {base}")
                    number = int(existing[0]["number"])
                answer = await gh.rest.pulls.async_update(owner, name, number, data=update)
                return _github_pr(answer.json())
        except RequestFailed as exc:
            raise _github_error(exc) from None
        except GitHubException as exc:
            raise ForgeError(f"GitHub could not be reached: {type(exc).__name__}") from None

    async def state(self, project: str, number: int) -> str:
        from githubkit.exception import GitHubException, RequestFailed

        owner, name = _split(project)
        try:
            async with self._client() as gh:
                return _github_pr((await gh.rest.pulls.async_get(owner, name, number)).json()).state
        except RequestFailed as exc:
            raise _github_error(exc) from None
        except GitHubException as exc:
            raise ForgeError(f"GitHub could not be reached: {type(exc).__name__}") from None


def _github_pr(data: dict[str, Any]) -> ForgePullRequest:
    if data.get("merged") or data.get("merged_at"):
        state = "merged"
    else:
        state = "closed" if data.get("state") == "closed" else "open"
    return ForgePullRequest(int(data["number"]), str(data["html_url"]), state)


def _github_error(exc: "RequestFailed") -> Exception:
    status = exc.response.status_code
    if status in (401, 403):
        return ForgeAuthError(f"GitHub answered {status}")
    return ForgeError(f"GitHub answered {status}: {_message(exc.response.text)}")


class GitLabForge:
    def __init__(self, api_url: str, token: str) -> None:
        self.base = api_url.rstrip("/").removesuffix("/api/v4")
        self.token = token

    def _client(self) -> "gitlab.Gitlab":
        import gitlab

        return gitlab.Gitlab(self.base, private_token=self.token, timeout=TIMEOUT, retry_transient_errors=False)

    async def open_or_update(
        self, project: str, branch: str, base: str, title: str, body: str, draft: bool, number: int | None = None
    ) -> ForgePullRequest:
        import gitlab.exceptions

        def call() -> ForgePullRequest:
            with self._client() as gl:
                repo = gl.projects.get(project, lazy=True)
                iid = number
                if iid is None:
                    try:
                        created = repo.mergerequests.create(
                            {
                                "source_branch": branch,
                                "target_branch": base,
                                "title": f"Draft: {title}" if draft else title,
                                "description": body,
                            }
                        )
                        return _gitlab_pr(created.attributes)
                    except gitlab.exceptions.GitlabCreateError as exc:
                        if exc.response_code != 409:  # 409: an open merge request of this branch exists
                            raise
                    found = repo.mergerequests.list(source_branch=branch, state="opened", get_all=False)
                    if not found:
                        raise ForgeError(f"GitLab refused to open a merge request from {branch} into {base}")
                    iid = int(found[0].get_id() or 0)
                updated = repo.mergerequests.update(iid, {"title": title, "description": body})
                return _gitlab_pr(updated)

        result: ForgePullRequest = await self._run(call)
        return result

    async def state(self, project: str, number: int) -> str:
        def call() -> str:
            with self._client() as gl:
                return _gitlab_pr(gl.projects.get(project, lazy=True).mergerequests.get(number).attributes).state

        state: str = await self._run(call)
        return state

    @staticmethod
    async def _run(call: Any) -> Any:
        import gitlab.exceptions

        try:
            return await asyncio.to_thread(call)
        except gitlab.exceptions.GitlabAuthenticationError:
            raise ForgeAuthError("GitLab answered 401") from None
        except gitlab.exceptions.GitlabError as exc:
            if exc.response_code in (401, 403):
                raise ForgeAuthError(f"GitLab answered {exc.response_code}") from None
            raise ForgeError(f"GitLab answered {exc.response_code}: {_message(str(exc.error_message))}") from None
        except OSError as exc:
            raise ForgeError(f"GitLab could not be reached: {type(exc).__name__}") from None


def _gitlab_pr(data: dict[str, Any]) -> ForgePullRequest:
    state = {"opened": "open", "merged": "merged"}.get(str(data.get("state")), "closed")
    return ForgePullRequest(int(data["iid"]), str(data["web_url"]), state)


class GiteaForge:
    """Gitea and Forgejo (the same ``/api/v1`` pulls API)."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token

    def _client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"token {self.token}", "Accept": "application/json"},
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            verify=_ssl_context(),
        )

    async def open_or_update(
        self, project: str, branch: str, base: str, title: str, body: str, draft: bool, number: int | None = None
    ) -> ForgePullRequest:
        owner, name = _split(project)
        path = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/pulls"
        async with self._client() as client:
            if number is None:
                shown = f"WIP: {title}" if draft else title
                created = await client.post(path, json={"head": branch, "base": base, "title": shown, "body": body})
                if created.status_code != 409:  # 409: an open pull request of this branch exists
                    return _gitea_pr(await self._json(created))
                listed = await self._json(await client.get(path, params={"state": "open", "limit": 50}))
                found = [pr for pr in listed if isinstance(pr, dict) and (pr.get("head") or {}).get("ref") == branch]
                if not found:
                    raise ForgeError(f"the forge refused to open a pull request from {branch} into {base}")
                number = int(found[0]["number"])
            answer = await client.patch(f"{path}/{number}", json={"title": title, "body": body})
            return _gitea_pr(await self._json(answer))

    async def state(self, project: str, number: int) -> str:
        owner, name = _split(project)
        async with self._client() as client:
            path = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/pulls/{number}"
            return _gitea_pr(await self._json(await client.get(path))).state

    @staticmethod
    async def _json(response: httpx2.Response) -> Any:
        if response.status_code in (401, 403):
            raise ForgeAuthError(f"the forge answered {response.status_code}")
        if response.status_code >= 400:
            raise ForgeError(f"the forge answered {response.status_code}: {_message(response.text)}")
        return response.json()


def _gitea_pr(data: dict[str, Any]) -> ForgePullRequest:
    state = "merged" if data.get("merged") else "closed" if data.get("state") == "closed" else "open"
    return ForgePullRequest(int(data["number"]), str(data["html_url"]), state)


def _message(text: str) -> str:
    return " ".join(text.split())[:300]


def default_api_url(kind: str, host: str, scheme: str = "https") -> str:
    if kind == "github":
        return "https://api.github.com" if host == "github.com" else f"{scheme}://{host}/api/v3"
    if kind == "gitea":
        return f"{scheme}://{host}/api/v1"
    return f"{scheme}://{host}"


def forge_for(credentials: Credentials, scheme: str = "https") -> Forge | None:
    """The forge client of a connection, or ``None`` for a ``generic`` host (push only, no pull request)."""
    api_url = credentials.api_url or default_api_url(credentials.kind, credentials.host, scheme)
    if credentials.kind == "github":
        return GitHubForge(api_url, credentials.token)
    if credentials.kind == "gitlab":
        return GitLabForge(api_url, credentials.token)
    if credentials.kind == "gitea":
        return GiteaForge(api_url, credentials.token)
    return None
