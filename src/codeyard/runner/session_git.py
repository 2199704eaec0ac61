"""The git side of a session run: what each fresh clone started from, the commit identity and co-author hook,
and the session's ``open_pull_request`` executor."""

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from codeyard.config import Settings
from codeyard.runner import workspace
from codeyard.runner.pull_request import SessionPullRequests
from codeyard.runner.redaction import Redactor
from codeyard.runner.remotes import CloneAuth
from codeyard.services.container import Services
from codeyard.services.pull_requests import RepoSpec
from codeyard.storage.tables import AgentSessionRow


async def record_repos(services: Services, row: AgentSessionRow, ws: workspace.Workspace) -> None:
    """Note each new clone's starting commit and branch (hand-back and pull requests diff against it), and give it
    the commit hook that adds the session's creator as co-author. Runs before the agent touches the clone."""
    known = {r.position for r in await services.pull_requests.repos(row.id)}
    fresh: list[RepoSpec] = []
    co_author = await _co_author(services, row)
    for position, (entry, path) in enumerate(ws.repos.items()):
        if position in known:
            continue
        sha = await workspace.git("rev-parse", "--verify", "HEAD^{commit}", cwd=path)
        try:
            branch: str | None = await workspace.git("symbolic-ref", "--short", "-q", "HEAD", cwd=path)
        except workspace.WorkspaceError:
            branch = None
        fresh.append(RepoSpec(position, entry, path.name, sha, branch or None))
        if co_author:
            install_co_author_hook(path, co_author)
    if fresh:
        await services.pull_requests.record_repos(row.id, fresh)


def opener(
    settings: Settings,
    services: Services,
    row: AgentSessionRow,
    ws: workspace.Workspace,
    auth: CloneAuth,
    redact: Redactor,
    sensitive: Mapping[str, str],
) -> SessionPullRequests | None:
    """The session's ``open_pull_request`` executor, or ``None`` when it cloned no repository."""
    if not ws.repos:
        return None
    urls = {
        entry: workspace.resolve_repo(entry, settings.git_base_url, settings.local_repos_allowed, settings.data_dir)
        for entry in ws.repos
    }
    return SessionPullRequests(
        session_id=row.id,
        org_id=row.org_id,
        root=ws.root,
        pull_requests=services.pull_requests,
        auth=auth,
        urls=urls,
        redact=redact,
        known_secrets={**sensitive, **auth.secrets()},
    )


async def _co_author(services: Services, row: AgentSessionRow) -> str | None:
    """``Name <email>`` of the session's creator when its service user is named that way (or by an email)."""
    if not row.service_user_id:
        return None
    users = await services.identity.list_service_users(row.org_id)
    return parse_identity(next((u.name for u in users if u.id == row.service_user_id), ""))


_IDENTITY = re.compile(r"^\s*([^<>\n]+?)\s*<([^<>\s@]+@[^<>\s]+)>\s*$")
_EMAIL = re.compile(r"^[^<>\s@]+@[^<>\s@]+\.[^<>\s@]+$")


def parse_identity(value: str) -> str | None:
    """``Name <email>`` normalised, an email alone as ``email <email>``, anything else ``None``."""
    match = _IDENTITY.match(value)
    if match:
        return f"{match[1]} <{match[2]}>"
    value = value.strip()
    return f"{value} <{value}>" if _EMAIL.match(value) else None


def git_identity(author: str) -> dict[str, str]:
    """The environment that makes git in the sandbox commit as ``author`` (``Name <email>``)."""
    parsed = _IDENTITY.match(author)
    name, email = (parsed[1], parsed[2]) if parsed else ("codeyard", "codeyard@localhost")
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def install_co_author_hook(repo: Path, co_author: str) -> None:
    """A ``commit-msg`` hook (run by git inside the sandbox) adding ``Co-authored-by: <co_author>``."""
    hooks = repo / ".git" / "hooks"
    if hooks.is_symlink():
        return
    hooks.mkdir(exist_ok=True)
    hook = hooks / "commit-msg"
    trailer = shlex.quote(f"Co-authored-by: {co_author}")
    hook.write_text(
        f'#!/bin/sh\ngit interpret-trailers --in-place --if-exists addIfDifferent --trailer {trailer} "$1"\n'
    )
    hook.chmod(0o755)
