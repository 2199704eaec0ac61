"""A session's workspace: one directory with its repositories cloned and the user's files placed in it."""

import asyncio
import filecmp
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from codeyard.errors import CodeyardError

GIT_TIMEOUT = 600.0
_OWNER_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_REMOTE = re.compile(r"^(https?|ssh|git)://[^\s]+$|^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^\s]+$")
_SAFE_GIT = ("-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


class WorkspaceError(CodeyardError):
    """The workspace could not be prepared."""


class CloneAuth(Protocol):
    """Credentials for clones (``runner.remotes.CloneAuth``): an environment for git, a plain refusal message."""

    def env_for(self, url: str) -> Mapping[str, str]: ...

    def explain(self, url: str, error: str) -> str | None: ...


@dataclass
class Workspace:
    root: Path
    repos: dict[str, Path] = field(default_factory=dict)
    """Each entry of the session's ``repos`` → its clone."""
    files: list[Path] = field(default_factory=list)
    """The user's attachments, placed under ``attachments/``."""


def resolve_repo(entry: str, git_base_url: str, allow_local: bool, forbidden: Path | None = None) -> str:
    """The URL to clone for a ``repos`` entry: a git URL, ``owner/repo`` on the configured host, or a local path.

    A local path inside ``forbidden`` (the server's data dir, which holds every org's workspaces) is refused.
    """
    entry = entry.strip()
    if entry.startswith("-") or any(ch in entry for ch in "\n\r\0"):
        raise WorkspaceError(f"{entry[:100]!r} is not a repository")
    if _REMOTE.match(entry):
        return entry
    if entry.startswith(("file://", "/")):
        if not allow_local:
            raise WorkspaceError(f"local repositories are not allowed on this server: {entry[:100]}")
        path = Path(entry.removeprefix("file://")).resolve()
        if not path.exists():
            raise WorkspaceError(f"the local repository {entry[:100]} does not exist")
        if forbidden is not None and (path == forbidden.resolve() or forbidden.resolve() in path.parents):
            raise WorkspaceError(f"{entry[:100]} is inside the server's data directory")
        return str(path)
    if _OWNER_REPO.match(entry) and ".." not in entry:
        return f"{git_base_url.rstrip('/')}/{entry}"
    raise WorkspaceError(f"{entry[:100]!r} is not a git URL, an owner/repo name or an allowed local path")


def _dir_name(url: str, taken: set[str]) -> str:
    base = re.split(r"[/:]", url.rstrip("/"))[-1].removesuffix(".git") or "repo"
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", base).lstrip(".") or "repo"
    name, n = base, 2
    while name in taken or name == "attachments":
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


async def git(
    *args: str, cwd: Path | None = None, timeout: float = GIT_TIMEOUT, extra_env: Mapping[str, str] | None = None
) -> str:
    """Run git without a terminal, hooks or the ``ext::`` transport; ``WorkspaceError`` with its message on failure."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SSH_AUTH_SOCK", "TMPDIR")}
    env |= {"GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file", "GIT_ASKPASS": "/bin/false"}
    env |= extra_env or {}
    process = await asyncio.create_subprocess_exec(
        "git",
        *_SAFE_GIT,
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        process.kill()
        await process.wait()
        raise
    text = out.decode(errors="replace").strip()
    if process.returncode != 0:
        raise WorkspaceError(f"git {args[0]} failed: {text[-500:] or f'exit code {process.returncode}'}")
    return text


async def prepare(
    root: Path,
    repos: list[str],
    attachments: list[tuple[str, Path]],
    *,
    git_base_url: str,
    allow_local: bool,
    data_dir: Path | None = None,
    auth: CloneAuth | None = None,
) -> Workspace:
    """Create (or, on resume, complete) the workspace: clone missing repos, copy missing attachments."""
    root.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(root)
    taken: set[str] = set()
    for entry in dict.fromkeys(repos):  # the same entry twice is one clone
        url = resolve_repo(entry, git_base_url, allow_local, data_dir)
        target = root / _dir_name(url, taken)
        if not (target / ".git").exists():
            if target.exists():
                shutil.rmtree(target)
            partial = root / f".{target.name}.cloning"
            if partial.exists():
                shutil.rmtree(partial)
            try:
                await git("clone", "--quiet", "--", url, str(partial), extra_env=auth.env_for(url) if auth else None)
            except WorkspaceError as exc:
                plain = auth.explain(url, str(exc)) if auth else None
                if plain:
                    raise WorkspaceError(plain) from None
                raise
            clean = _without_credentials(url)
            if clean != url:  # a URL given with a password keeps it out of the workspace's .git/config
                await git("remote", "set-url", "origin", clean, cwd=partial)
            partial.rename(target)
        workspace.repos[entry] = target
    if attachments:
        folder = root / "attachments"
        folder.mkdir(exist_ok=True)
        for name, source in attachments:
            if source.exists():
                workspace.files.append(_place(folder, name, source))
    return workspace


def _without_credentials(url: str) -> str:
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.IGNORECASE)


def _place(folder: Path, name: str, source: Path) -> Path:
    """``attachments/<name>``; another file of the same name becomes ``<stem>-2<suffix>`` and so on. A file already
    placed (same content, on resume) is reused, so each upload has one stable path."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 1000):
        target = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        if not target.exists():
            shutil.copyfile(source, target)
            return target
        if filecmp.cmp(target, source, shallow=False):
            return target
    raise WorkspaceError(f"too many attachments named {name[:100]}")
