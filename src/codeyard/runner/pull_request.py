"""The ``open_pull_request`` tool's work, done by the runner outside the sandbox (contract §10).

Check the agent's commits (something to push, nothing left uncommitted, read host-side in a shadow repository so
the workspace's own git config never runs), scan them for secrets with the scanner of
``codeyard handoff``, push ``HEAD`` to ``codeyard/<8 hex>-<slug>`` with the connection's credentials, then open or
update the pull request on the forge and record it. Every refusal is a ``ToolError`` the model can act on.
"""

import asyncio
import re
import shlex
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

import structlog

from codeyard.agent.tools import ToolError
from codeyard.handoff.collect import Collected, Commit
from codeyard.handoff.scan import CONTEXT_PATH, CommitChanges, Finding, History, scan
from codeyard.runner.forges import ForgeAuthError, ForgeError, forge_for
from codeyard.runner.redaction import Redactor
from codeyard.runner.remotes import CloneAuth, Remote, auth_env, is_auth_failure, refused, remote_for
from codeyard.services.pull_requests import PUSHED, PullRequests, PushedBranch
from codeyard.services.workspace_git import Shadow, WorkspaceGitError, repo_path, run_git, shadow
from codeyard.storage.tables import SessionRepo

log = structlog.get_logger("codeyard.runner")
PUSH_TIMEOUT = 300.0


def slug(title: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return words[:40].rstrip("-") or "change"


class SessionPullRequests:
    """One session's ``PullRequestOpener``."""

    def __init__(
        self,
        *,
        session_id: str,
        org_id: str,
        root: Path,
        pull_requests: PullRequests,
        auth: CloneAuth,
        urls: Mapping[str, str],
        redact: Redactor,
        known_secrets: Mapping[str, str],
    ) -> None:
        self.session_id = session_id
        self.org_id = org_id
        self.root = root
        self.pull_requests = pull_requests
        self.auth = auth
        self.urls = dict(urls)
        """Each ``repos`` entry → the URL it was cloned from."""
        self.redact = redact
        self.known_secrets = dict(known_secrets)
        self._lock = asyncio.Lock()
        self._repos: list[SessionRepo] | None = None
        self.timings: dict[str, float] = {}
        """The last call's steps and their durations (seconds)."""

    async def open_pull_request(self, repo: str, title: str, body: str, base: str | None, draft: bool) -> str:
        async with self._lock:  # two calls in one step must not push the same branch at once
            return await self._open(repo, title, body, base, draft)

    async def _find(self, repo: str) -> SessionRepo:
        if self._repos is None:  # recorded before the agent ran and never changed: one read per opener
            self._repos = await self.pull_requests.repos(self.session_id)
        for known in self._repos:
            if repo in (known.entry, known.directory, known.entry.removesuffix(".git")):
                return known
        names = ", ".join(repr(r.directory) for r in self._repos) or "none (this session cloned no repository)"
        raise ToolError(f"this session has no repository {repo[:200]!r}; its repositories are: {names}")

    async def _open(self, repo: str, title: str, body: str, base: str | None, draft: bool) -> str:
        steps = Steps()
        known = await self._find(repo)
        try:
            path = repo_path(self.root, known.directory)
        except WorkspaceGitError as exc:
            raise ToolError(str(exc)) from None
        remote = remote_for(known.entry, self.urls.get(known.entry, known.entry), self.auth.connections)
        steps.done("find")
        try:
            async with shadow(path) as git:
                head = git.head
                steps.done("shadow")
                # Independent of each other, so at once: the status check, the commits read and scanned (the scan
                # in a thread while git checks the work tree), and the branch of an earlier call.
                changed, scanned, existing = await _all(
                    git.status(),
                    self._read_and_scan(git, known, head, f"{title}\n\n{body}", steps),
                    self.pull_requests.for_repo(self.session_id, known.entry),
                )
                steps.done("checks")
                commits, findings = scanned
                if changed:
                    listed = "\n".join(changed[:20])
                    raise ToolError(
                        f"{known.directory} has uncommitted changes:\n{listed}\nCommit them (git add -A && git "
                        "commit -m '...') or discard them, then call open_pull_request again."
                    )
                if not commits:
                    raise ToolError(
                        f"nothing to push: {known.directory} has no commit since the session started. Commit your "
                        f"work first (cd {shlex.quote(known.directory)} && git add -A && git commit -m '...'), then "
                        "call open_pull_request again."
                    )
                _refuse(findings, known.base_sha)
                branch = existing.branch if existing else f"codeyard/{self.session_id.removeprefix('devin-')[:8]}-"
                if not existing:
                    branch += slug(title)
                await self._push(git.git_dir, git.env(), remote, head, branch)
                steps.done("push")
        except WorkspaceGitError as exc:
            raise ToolError(self.redact(str(exc))) from None
        target = base or (existing.base if existing else None) or known.base_branch or "main"
        pushed = PushedBranch(
            known.entry, _connection_id(remote), remote.project, branch, target, head, None, None, PUSHED
        )
        text = f"pushed {len(commits)} commit(s) of {known.directory} to branch {branch}"
        forge = forge_for(remote.credentials, remote.url.partition("://")[0]) if remote.credentials else None
        if forge is not None and remote.host is not None:
            try:
                known_number = existing.number if existing else None
                pr = await forge.open_or_update(remote.project, branch, target, title, body, draft, known_number)
            except ForgeAuthError:
                raise ToolError(refused(remote.host)) from None
            except ForgeError as exc:
                await self.pull_requests.save(self.session_id, self.org_id, pushed)
                raise ToolError(f"{text}, but the pull request failed: {self.redact(str(exc))}") from None
            steps.done("forge")
            pushed = PushedBranch(
                known.entry, _connection_id(remote), remote.project, branch, target, head, pr.number, pr.url, pr.state
            )
            verb = "updated" if existing and existing.number == pr.number else "opened"
            text += f"; {verb} pull request #{pr.number}: {pr.url} (state {pr.state}, base {target})"
        else:
            text += " (no forge is connected for this host, so no pull request was opened)"
        await self.pull_requests.save(self.session_id, self.org_id, pushed)
        steps.done("record")
        self.timings = steps.times
        log.debug(
            "pull request step timings",
            session_id=self.session_id,
            **{k: round(v * 1000, 1) for k, v in steps.times.items()},
        )
        return text

    async def _read_and_scan(
        self, git: Shadow, known: SessionRepo, head: str, text: str, steps: "Steps"
    ) -> tuple[list[CommitChanges], list[Finding]]:
        """The commits since the session's base (patches, binary files, names, messages) and the pull request's
        title and body, scanned with the handoff scanner: two git processes for all commits."""
        history = History()
        revisions = ("--reverse", f"{known.base_sha}..{head}")
        patches, names = await asyncio.gather(
            git.git(*history.patch_args(*revisions)), git.git(*history.names_args(*revisions))
        )
        commits = history.parse(patches, names)
        steps.done("read commits")
        if not commits:
            return commits, []
        collected = Collected(
            repo_dir=git.git_dir,
            remote_name=None,
            remote_url=None,
            host=None,
            branch=None,
            head_sha=head,
            base_sha=known.base_sha,
            base_on_remote=True,
            upstream=None,
            commits=tuple(Commit(c.sha, c.subject) for c in commits),
            bundle=None,
            patch=b"",
            files=(),
        )
        try:
            findings = await asyncio.to_thread(scan, collected, text, self.known_secrets, history=commits)
        except Exception as exc:
            raise ToolError(f"the secret scan failed ({type(exc).__name__}), so nothing was pushed") from None
        steps.done("scan")
        return commits, findings

    async def _push(self, git_dir: Path, env: dict[str, str], remote: Remote, head: str, branch: str) -> None:
        if remote.credentials is not None:
            env |= auth_env(remote.credentials)
        refspec = f"+{head}:refs/heads/{branch}"
        code, out, err = await run_git(
            "push",
            "--quiet",
            "--no-verify",
            "--",
            remote.url,
            refspec,
            cwd=git_dir,
            env=env,
            timeout=PUSH_TIMEOUT,
            check=False,
        )
        if code == 0:
            log.info("pushed", session_id=self.session_id, branch=branch, host=remote.host)
            return
        message = (err or out).decode(errors="replace").strip()
        if remote.credentials is not None and remote.host is not None and is_auth_failure(message):
            raise ToolError(refused(remote.host))
        raise ToolError(f"the push of {branch} failed: {self.redact(message[-500:])}")


def _refuse(findings: list[Finding], base_sha: str) -> None:
    if findings:
        where = ", ".join(
            f"{f.location().replace(CONTEXT_PATH, 'the pull request title or body')} ({f.kind})" for f in findings[:10]
        )
        raise ToolError(
            f"nothing was pushed: the commits or the pull request text contain what looks like a secret: {where}. "
            f"Remove it (from the history: for example git reset --soft {base_sha[:12]}, take the secret "
            "out, commit again) and call open_pull_request again."
        )


async def _all(*steps: Awaitable[Any]) -> list[Any]:
    """Every step's result, once all have finished; the first failure (in argument order) is raised."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


class Steps:
    """How long each step of one call took (seconds), for the log and the benchmark."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = self._start = time.perf_counter()

    def done(self, step: str) -> None:
        now = time.perf_counter()
        self.times[step] = now - self._last
        self._last = now


def _connection_id(remote: Remote) -> str | None:
    return remote.credentials.connection_id if remote.credentials else None
