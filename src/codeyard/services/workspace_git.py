"""Reading a session's repositories from the host side without trusting them.

The agent controls everything under a workspace, its ``.git`` included: a config can name diff drivers, clean
filters, an fsmonitor command or ``url.*.insteadOf`` rewrites, and a symlink can point anywhere. So the host never
runs git with the workspace's own git directory beyond ``rev-parse``. ``Shadow`` is a throw-away bare repository
of ours that sees the workspace's objects as an alternate: diffs, bundles, the uncommitted patch and pushes run
there, with our config only, no hooks, no system or global config and a clean environment.
"""

import asyncio
import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from codeyard.errors import ConflictError

GIT_TIMEOUT = 300.0
SAFE_CONFIG = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "safe.directory=*",
    "-c",
    "core.quotePath=false",
    "-c",
    "color.ui=false",
)
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_DIFF = ("--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/")


class WorkspaceGitError(ConflictError):
    """The session's repository cannot be read."""


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a host-side git command: no user config, prompts, agents or helpers."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_ALLOW_PROTOCOL": "https:http:file",
    }
    env.update(extra or {})
    return env


async def run_git(
    *args: str,
    cwd: Path,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    timeout: float = GIT_TIMEOUT,
    check: bool = True,
) -> tuple[int, bytes, bytes]:
    """Run git with ``SAFE_CONFIG`` and exactly ``env``; ``WorkspaceGitError`` with git's words on failure."""
    process = await asyncio.create_subprocess_exec(
        "git",
        *SAFE_CONFIG,
        *args,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except (TimeoutError, asyncio.CancelledError):
        process.kill()
        await process.wait()
        raise
    code = process.returncode or 0
    if check and code != 0:
        message = err.decode(errors="replace").strip()[-500:] or f"exit code {code}"
        raise WorkspaceGitError(f"git {args[0]} failed: {message}")
    return code, out, err


def repo_path(root: Path, directory: str) -> Path:
    """``root/directory`` if it is a real git work tree inside ``root``: no symlink on the way, ``.git`` a real
    directory (not a ``gitdir:`` file pointing elsewhere) whose objects borrow from no other repository."""
    if not directory or "/" in directory or directory in (".", "..") or "\0" in directory:
        raise WorkspaceGitError(f"{directory[:100]!r} is not a repository directory of the workspace")
    root = root.resolve()
    path = root / directory
    git_dir = path / ".git"
    for part in (path, git_dir, git_dir / "objects"):
        if part.is_symlink() or not part.is_dir():
            raise WorkspaceGitError(f"the repository {directory[:100]} is missing or was replaced by a link")
    if path.resolve().parent != root:
        raise WorkspaceGitError(f"the repository {directory[:100]} is outside the workspace")
    alternates = git_dir / "objects" / "info" / "alternates"
    if alternates.exists() or alternates.is_symlink():
        raise WorkspaceGitError(f"the repository {directory[:100]} borrows objects from another repository")
    return path


def _copy_regular(source: Path, target: Path, limit: int = 512 * 1024 * 1024) -> bool:
    """Copy ``source`` if it is a regular file (never through a symlink) of at most ``limit`` bytes."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return False
        with target.open("wb") as out:
            shutil.copyfileobj(handle, out)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))  # git compares file times with the index's own
    return True


@dataclass
class Shadow:
    """A bare repository of ours standing for one workspace repository (see the module docstring)."""

    repo: Path
    git_dir: Path
    home: Path
    head: str

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return clean_env(self.home, {"GIT_DIR": str(self.git_dir), **(extra or {})})

    async def git(self, *args: str, extra_env: Mapping[str, str] | None = None, stdin: bytes | None = None) -> bytes:
        return (await run_git(*args, cwd=self.git_dir, env=self.env(extra_env), stdin=stdin))[1]

    async def is_commit(self, sha: str) -> bool:
        code, _, _ = await run_git("cat-file", "-e", f"{sha}^{{commit}}", cwd=self.git_dir, env=self.env(), check=False)
        return code == 0

    async def commits(self, base: str, head: str) -> list[dict[str, str]]:
        """``{sha, subject}`` of each commit in ``base..head``, oldest first."""
        out = await self.git("log", "-z", "--reverse", "--format=%H %s", f"{base}..{head}", "--")
        commits = []
        for entry in out.decode(errors="replace").split("\0"):
            sha, _, subject = entry.strip("\n").partition(" ")
            if sha:
                commits.append({"sha": sha, "subject": subject})
        return commits

    async def diffstat(self, base: str, head: str) -> dict[str, int]:
        out = await self.git("diff", "--numstat", "-z", "--no-renames", *_DIFF, base, head, "--")
        files = insertions = deletions = 0
        for record in out.split(b"\0"):
            counts = record.split(b"\t", 2)
            if len(counts) != 3:
                continue
            files += 1
            insertions += int(counts[0]) if counts[0].isdigit() else 0
            deletions += int(counts[1]) if counts[1].isdigit() else 0
        return {"files_changed": files, "insertions": insertions, "deletions": deletions}

    async def bundle(self, base: str, head: str) -> bytes:
        """A git bundle of ``base..head`` whose one ref is ``refs/heads/codeyard`` (``base`` is its prerequisite)."""
        await self.git("update-ref", "refs/heads/codeyard", head)
        target = self.home / "changes.bundle"
        exclude = [f"^{base}"] if base != head else []
        await self.git("bundle", "create", "--quiet", str(target), "refs/heads/codeyard", *exclude)
        return target.read_bytes()

    async def status(self) -> list[str]:
        """``git status --porcelain`` of the work tree, against a copy of the workspace's index (its stat data
        spares rehashing every file); a copy git cannot use is replaced by an index read from HEAD."""
        index = self.home / "status-index"
        extra = {"GIT_WORK_TREE": str(self.repo), "GIT_INDEX_FILE": str(index)}
        if not _copy_regular(self.repo / ".git" / "index", index):
            await self.git("read-tree", self.head, extra_env=extra)
        args = ("status", "--porcelain", "--untracked-files=normal", "--ignore-submodules=dirty")
        code, out, _ = await run_git(*args, cwd=self.git_dir, env=self.env(extra), check=False)
        if code != 0:
            index.unlink(missing_ok=True)
            await self.git("read-tree", self.head, extra_env=extra)
            out = await self.git(*args, extra_env=extra)
        return [line for line in out.decode(errors="replace").splitlines() if line.strip()]

    async def uncommitted_patch(self) -> bytes:
        """A binary patch from HEAD to the work tree, untracked files included, built in a temporary index: the
        workspace's index, config and attributes drivers are never used."""
        extra = {"GIT_WORK_TREE": str(self.repo), "GIT_INDEX_FILE": str(self.home / "index")}
        await self.git("read-tree", self.head, extra_env=extra)
        await self.git("add", "-A", "--", ".", extra_env=extra)
        return await self.git("diff", "--cached", "--binary", *_DIFF, self.head, "--", extra_env=extra)


def _bare_repository(git_dir: Path, objects: Path, head: str) -> None:
    """What ``git init --bare`` would write that git needs, without a process or the template's sample hooks."""
    (git_dir / "objects" / "info").mkdir(parents=True)
    (git_dir / "refs" / "heads").mkdir(parents=True)
    (git_dir / "refs" / "tags").mkdir()
    (git_dir / "HEAD").write_text(f"{head}\n")  # detached at the workspace's HEAD, which status compares with
    version, extension = ("1", "[extensions]\n\tobjectformat = sha256\n") if len(head) == 64 else ("0", "")
    (git_dir / "config").write_text(f"[core]\n\trepositoryformatversion = {version}\n\tbare = true\n{extension}")
    (git_dir / "objects" / "info" / "alternates").write_text(f"{objects}\n")


@contextlib.asynccontextmanager
async def shadow(repo: Path) -> AsyncIterator[Shadow]:
    """A ``Shadow`` of the repository at ``repo`` (already checked by ``repo_path``), removed on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="codeyard-git-"))
    try:
        home = tmp / "home"
        home.mkdir()
        # rev-parse reads the workspace's config but runs nothing it names; every later command runs in the shadow,
        # where a HEAD that is not a commit of these objects fails.
        env = clean_env(home, {"GIT_DIR": str(repo / ".git")})
        code, out, _ = await run_git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", cwd=tmp, env=env, check=False)
        head = out.decode(errors="replace").strip()
        if code != 0 or not _SHA.match(head):
            raise WorkspaceGitError(f"the repository {repo.name} has no commit checked out")
        git_dir = tmp / "shadow.git"
        _bare_repository(git_dir, (repo / ".git" / "objects").resolve(), head)
        yield Shadow(repo, git_dir, home, head)
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
