"""A scripted forge on loopback speaking the REST shapes of GitHub's pulls (``/github``), GitLab's merge requests
(``/gitlab/api/v4``) and Gitea's pulls (``/gitea/api/v1``). It checks the token and records what it got."""

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer


@dataclass
class ForgeRequest:
    method: str
    path: str
    authorized: bool
    body: Any


@dataclass
class FakePull:
    number: int
    project: str
    head: str
    base: str
    title: str
    body: str
    draft: bool
    state: str = "open"
    """``open``, ``closed`` or ``merged``."""


@dataclass
class FakeForge:
    token: str
    requests: list[ForgeRequest] = field(default_factory=list)
    pulls: list[FakePull] = field(default_factory=list)
    base_url: str = ""

    def pull(self, project: str, head: str) -> FakePull | None:
        return next((p for p in self.pulls if p.project == project and p.head == head), None)

    def set_state(self, project: str, number: int, state: str) -> None:
        for pull in self.pulls:
            if pull.project == project and pull.number == number:
                pull.state = state

    def _open(self, project: str, head: str, base: str, title: str, body: str, draft: bool) -> FakePull:
        pull = FakePull(
            len([p for p in self.pulls if p.project == project]) + 1, project, head, base, title, body, draft
        )
        self.pulls.append(pull)
        return pull

    def _open_for(self, project: str, head: str) -> bool:
        return any(p.project == project and p.head == head and p.state == "open" for p in self.pulls)

    def _find(self, project: str, number: int) -> FakePull | None:
        return next((p for p in self.pulls if p.project == project and p.number == number), None)

    async def _record(self, request: Request, authorized: bool) -> Any:
        raw = await request.body()
        body = None
        if raw:
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append(ForgeRequest(request.method, request.url.path, authorized, body))
        return body

    # -- GitHub ----------------------------------------------------------------------------------------------
    def _github_json(self, pull: FakePull) -> dict[str, Any]:
        owner = pull.project.split("/")[0]
        return {
            "number": pull.number,
            "html_url": f"{self.base_url}/web/{pull.project}/pull/{pull.number}",
            "state": "open" if pull.state == "open" else "closed",
            "merged": pull.state == "merged",
            "merged_at": "2026-11-30T00:00:00Z" if pull.state == "merged" else None,
            "title": pull.title,
            "body": pull.body,
            "draft": pull.draft,
            "head": {"ref": pull.head, "label": f"{owner}:{pull.head}"},
            "base": {"ref": pull.base},
        }

    async def github_pulls(self, request: Request) -> Response:
        ok = request.headers.get("authorization") in (f"token {self.token}", f"Bearer {self.token}")
        body = await self._record(request, ok)
        if not ok:
            return JSONResponse({"message": "Bad credentials"}, 401)
        project = f"{request.path_params['owner']}/{request.path_params['repo']}"
        if request.method == "POST":
            if self._open_for(project, body["head"]):
                errors = [{"message": f"A pull request already exists for {body['head']}."}]
                return JSONResponse({"message": "Validation Failed", "errors": errors}, 422)
            pull = self._open(
                project, body["head"], body["base"], body["title"], body["body"], body.get("draft", False)
            )
            return JSONResponse(self._github_json(pull), 201)
        head = request.query_params.get("head", "")
        listed = [
            p
            for p in self.pulls
            if p.project == project and p.state == "open" and (not head or head.endswith(f":{p.head}"))
        ]
        return JSONResponse([self._github_json(p) for p in listed])

    async def github_pull(self, request: Request) -> Response:
        ok = request.headers.get("authorization") in (f"token {self.token}", f"Bearer {self.token}")
        body = await self._record(request, ok)
        if not ok:
            return JSONResponse({"message": "Bad credentials"}, 401)
        project = f"{request.path_params['owner']}/{request.path_params['repo']}"
        pull = self._find(project, int(request.path_params["number"]))
        if pull is None:
            return JSONResponse({"message": "Not Found"}, 404)
        if request.method == "PATCH":
            pull.title, pull.body = body.get("title", pull.title), body.get("body", pull.body)
        return JSONResponse(self._github_json(pull))

    # -- GitLab ----------------------------------------------------------------------------------------------
    def _gitlab_json(self, pull: FakePull) -> dict[str, Any]:
        return {
            "iid": pull.number,
            "web_url": f"{self.base_url}/web/{pull.project}/-/merge_requests/{pull.number}",
            "state": {"open": "opened"}.get(pull.state, pull.state),
            "title": pull.title,
            "description": pull.body,
            "source_branch": pull.head,
            "target_branch": pull.base,
        }

    async def gitlab_mrs(self, request: Request) -> Response:
        ok = request.headers.get("private-token") == self.token
        body = await self._record(request, ok)
        if not ok:
            return JSONResponse({"message": "401 Unauthorized"}, 401)
        project = request.path_params["project"]
        if request.method == "POST":
            if self._open_for(project, body["source_branch"]):
                return JSONResponse(
                    {"message": ["Another open merge request already exists for this source branch"]}, 409
                )
            title = body["title"]
            pull = self._open(
                project,
                body["source_branch"],
                body["target_branch"],
                title,
                body["description"],
                title.startswith("Draft:"),
            )
            return JSONResponse(self._gitlab_json(pull), 201)
        source = request.query_params.get("source_branch")
        listed = [p for p in self.pulls if p.project == project and p.state == "open" and p.head == source]
        return JSONResponse([self._gitlab_json(p) for p in listed])

    async def gitlab_mr(self, request: Request) -> Response:
        ok = request.headers.get("private-token") == self.token
        body = await self._record(request, ok)
        if not ok:
            return JSONResponse({"message": "401 Unauthorized"}, 401)
        pull = self._find(request.path_params["project"], int(request.path_params["iid"]))
        if pull is None:
            return JSONResponse({"message": "404 Not found"}, 404)
        if request.method == "PUT":
            pull.title, pull.body = body.get("title", pull.title), body.get("description", pull.body)
        return JSONResponse(self._gitlab_json(pull))

    # -- Gitea -----------------------------------------------------------------------------------------------
    def _gitea_json(self, pull: FakePull) -> dict[str, Any]:
        return {
            "number": pull.number,
            "html_url": f"{self.base_url}/web/{pull.project}/pulls/{pull.number}",
            "state": "open" if pull.state == "open" else "closed",
            "merged": pull.state == "merged",
            "title": pull.title,
            "body": pull.body,
            "head": {"ref": pull.head},
            "base": {"ref": pull.base},
        }

    async def gitea_pulls(self, request: Request) -> Response:
        ok = request.headers.get("authorization") == f"token {self.token}"
        body = await self._record(request, ok)
        if not ok:
            return JSONResponse({"message": "unauthorized"}, 401)
        project = f"{request.path_params['owner']}/{request.path_params['repo']}"
        if request.method == "POST":
            if self._open_for(project, body["head"]):
                return JSONResponse({"message": "pull request already exists for these targets"}, 409)
            title = body["title"]
            pull = self._open(project, body["head"], body["base"], title, body["body"], title.startswith("WIP:"))
            return JSONResponse(self._gitea_json(pull), 201)
        listed = [p for p in self.pulls if p.project == project and p.state == "open"]
        return JSONResponse([self._gitea_json(p) for p in listed])

    async def gitea_pull(self, request: Request) -> Response:
        ok = request.headers.get("authorization") == f"token {self.token}"
        body = await self._record(request, ok)
        if not ok:
            return JSONResponse({"message": "unauthorized"}, 401)
        project = f"{request.path_params['owner']}/{request.path_params['repo']}"
        pull = self._find(project, int(request.path_params["number"]))
        if pull is None:
            return JSONResponse({"message": "not found"}, 404)
        if request.method == "PATCH":
            pull.title, pull.body = body.get("title", pull.title), body.get("body", pull.body)
        return JSONResponse(self._gitea_json(pull))


class ForgeServer(ThreadedServer):
    def __init__(self, token: str) -> None:
        self.forge = FakeForge(token)
        f = self.forge
        app = Starlette(
            routes=[
                Route("/github/repos/{owner}/{repo}/pulls", f.github_pulls, methods=["GET", "POST"]),
                Route("/github/repos/{owner}/{repo}/pulls/{number:int}", f.github_pull, methods=["GET", "PATCH"]),
                Route(
                    "/gitlab/api/v4/projects/{project:path}/merge_requests/{iid:int}",
                    f.gitlab_mr,
                    methods=["GET", "PUT"],
                ),
                Route("/gitlab/api/v4/projects/{project:path}/merge_requests", f.gitlab_mrs, methods=["GET", "POST"]),
                Route("/gitea/api/v1/repos/{owner}/{repo}/pulls", f.gitea_pulls, methods=["GET", "POST"]),
                Route("/gitea/api/v1/repos/{owner}/{repo}/pulls/{number:int}", f.gitea_pull, methods=["GET", "PATCH"]),
            ]
        )
        super().__init__(app, name="fake-forge")
        self.forge.base_url = f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
