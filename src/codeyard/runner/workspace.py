"""A session's workspace: one directory with its repositories cloned and the user's files placed in it."""

import asyncio
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from codeyard.errors import CodeyardError
from codeyard.runner import clone
from codeyard.sandbox import confine

GIT_TIMEOUT = 600.0
_OWNER_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_REMOTE = re.compile(r"^(https?|ssh|git)://[^\s]+$|^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^\s]+$")


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

    A local path whose git data lies inside ``forbidden`` (the server's data dir, which holds every org's
    workspaces) is refused, also when it gets there through a ``gitdir:`` file, ``commondir`` or alternates.
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
        if forbidden is not None:
            guard = forbidden.resolve()
            for place in [path, *git_data_dirs(path)]:
                if place == guard or guard in place.parents:
                    raise WorkspaceError(f"{entry[:100]} is inside the server's data directory")
        return str(path)
    if _OWNER_REPO.match(entry) and ".." not in entry:
        return f"{git_base_url.rstrip('/')}/{entry}"
    raise WorkspaceError(f"{entry[:100]!r} is not a git URL, an owner/repo name or an allowed local path")


def git_data_dirs(path: Path) -> list[Path]:
    """Every directory git reads for the local repository at ``path``: its git dir (through a ``gitdir:`` file),
    the ``commondir`` of a linked worktree, and the object stores named in ``objects/info/alternates``."""
    found: list[Path] = []
    dot_git = path / ".git"
    start = path
    if dot_git.is_dir():
        start = dot_git.resolve()
    elif dot_git.is_file() or path.is_file():
        start = _gitdir_file(dot_git if dot_git.is_file() else path)
    pending = [start]
    while pending and len(found) < 20:
        git_dir = pending.pop()
        if git_dir in found:
            continue
        found.append(git_dir)
        common = git_dir / "commondir"
        if common.is_file():
            pending.append((git_dir / _first_line(common)).resolve())
        alternates = git_dir / "objects" / "info" / "alternates"
        if alternates.is_file():
            with open(alternates, errors="replace") as handle:
                lines = handle.read(65536).splitlines()[:20]
            for line in lines:
                if line.strip() and not line.startswith("#"):
                    objects = (git_dir / "objects" / line.strip()).resolve()
                    found.append(objects)
                    pending.append(objects.parent)
    return found


_MAX_DEPTH = 4096
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def open_git_dir(path: Path, forbidden: Path | None) -> int:
    """A descriptor on the git directory to clone for the local repository at ``path``, checked where it
    was opened: it, the common dir it names (a linked worktree's, taken instead of it) and every object
    store of its alternates lie outside ``forbidden``. The clone then reads through this descriptor
    (``/proc/self/fd``), so swapping a ``gitdir:`` file, ``.git`` or a parent for a link between the check
    and the clone changes nothing. ``WorkspaceError`` when refused; the caller closes the descriptor."""
    guard = _identity(forbidden)
    try:
        try:
            top = os.open(path, _OPEN_DIR)
        except NotADirectoryError:
            return _checked(_open_gitdir_file(None, str(path)), guard, path)
        try:
            kind = _kind(top, ".git")
            if kind == "dir":
                git_dir = os.open(".git", _OPEN_DIR, dir_fd=top)  # a link here is followed, then checked
            elif kind == "file":
                git_dir = _open_gitdir_file(top, ".git")
            elif _is_git_dir(top):
                git_dir = os.dup(top)  # a bare repository
            else:
                raise WorkspaceError(f"{str(path)[:100]} is not a git repository")
        finally:
            os.close(top)
        return _checked(git_dir, guard, path)
    except OSError as exc:
        raise WorkspaceError(f"the local repository {str(path)[:100]} could not be opened: {exc.strerror}") from exc


def check_alternates(git_dir: int, forbidden: Path | None, shown: Path) -> None:
    """Refuse when an object store named in ``git_dir``'s alternates lies inside ``forbidden``; run again
    after the clone, since the file may have been rewritten while git read it."""
    guard = _identity(forbidden)
    if guard is not None:
        _check_alternates(git_dir, guard, shown)


def _checked(git_dir: int, guard: tuple[int, int] | None, shown: Path) -> int:
    try:
        for _ in range(5):  # a linked worktree: clone its common dir, the one holding objects and refs
            common = _lines(git_dir, "commondir", 1)
            if not common or not common[0]:
                break
            moved = os.open(_relative_to_fd(git_dir, ".", common[0]), _OPEN_DIR)
            os.close(git_dir)
            git_dir = moved
        if guard is not None:
            if _below(git_dir, guard):
                raise WorkspaceError(f"{str(shown)[:100]} is inside the server's data directory")
            _check_alternates(git_dir, guard, shown)
    except BaseException:
        os.close(git_dir)
        raise
    return git_dir


def _check_alternates(git_dir: int, guard: tuple[int, int], shown: Path) -> None:
    for line in _lines(git_dir, "objects/info/alternates", 20):
        if line and not line.startswith("#"):
            try:
                store = os.open(_relative_to_fd(git_dir, "objects", line), _OPEN_DIR)
            except OSError:
                continue  # git skips a store it cannot open too
            try:
                if _below(store, guard):
                    raise WorkspaceError(f"{str(shown)[:100]} is inside the server's data directory")
            finally:
                os.close(store)


def _identity(path: Path | None) -> tuple[int, int] | None:
    """``path``'s device and inode; None when there is no such directory (nothing can be inside it)."""
    if path is None:
        return None
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _is_git_dir(dir_fd: int) -> bool:
    """Whether the opened directory looks like a git dir (``HEAD`` a file, ``objects`` and ``refs`` folders)."""
    try:
        head, objects, refs = (os.stat(name, dir_fd=dir_fd) for name in ("HEAD", "objects", "refs"))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(head.st_mode) and stat.S_ISDIR(objects.st_mode) and stat.S_ISDIR(refs.st_mode)


def _kind(dir_fd: int, name: str) -> str | None:
    try:
        status = os.stat(name, dir_fd=dir_fd)  # followed: the opened result is what gets checked
    except (FileNotFoundError, NotADirectoryError):
        return None
    return "dir" if stat.S_ISDIR(status.st_mode) else "file" if stat.S_ISREG(status.st_mode) else None


def _open_gitdir_file(dir_fd: int | None, name: str) -> int:
    """The directory a ``gitdir:`` file names, opened (relative to the file's own directory)."""
    handle = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise WorkspaceError(f"{name[:100]} is not a git repository")
        line = os.read(handle, 4096).decode(errors="replace").split("\n", 1)[0].strip()
    finally:
        os.close(handle)
    if not line.startswith("gitdir:"):
        raise WorkspaceError(f"{name[:100]} is not a git repository")
    target = line.removeprefix("gitdir:").strip()
    if dir_fd is None:
        return os.open(Path(name).parent / target, _OPEN_DIR)
    return os.open(_relative_to_fd(dir_fd, ".", target), _OPEN_DIR)


def _relative_to_fd(dir_fd: int, below: str, target: str) -> str:
    """``target`` as git reads it: absolute, or relative to ``below`` inside the opened directory."""
    if target.startswith("/"):
        return target
    return f"/proc/self/fd/{dir_fd}/{below}/{target}"


def _lines(dir_fd: int, name: str, limit: int) -> list[str]:
    try:
        handle = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return []
        return [line.strip() for line in os.read(handle, 65536).decode(errors="replace").splitlines()[:limit]]
    finally:
        os.close(handle)


def _below(fd: int, guard: tuple[int, int]) -> bool:
    """Whether the directory open on ``fd`` is ``guard`` or lies below it, found by walking ``..`` from
    the descriptor (never by path). Too deep to tell counts as below."""
    current = os.dup(fd)
    try:
        for _ in range(_MAX_DEPTH):
            here = os.fstat(current)
            if (here.st_dev, here.st_ino) == guard:
                return True
            parent = os.open("..", _OPEN_DIR, dir_fd=current)
            os.close(current)
            current = parent
            above = os.fstat(current)
            if (above.st_dev, above.st_ino) == (here.st_dev, here.st_ino):
                return False  # the root
        return True
    finally:
        os.close(current)


def _first_line(path: Path) -> str:
    with open(path, errors="replace") as handle:
        return handle.readline(4096).strip()


def _gitdir_file(path: Path) -> Path:
    line = _first_line(path)
    if not line.startswith("gitdir:"):
        raise WorkspaceError(f"{str(path)[:100]} is not a git repository")
    return (path.parent / line.removeprefix("gitdir:").strip()).resolve()


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
    """Run git without a terminal, hooks, the ``ext::`` transport, credential helpers or the server's own
    environment and configuration; ``WorkspaceError`` with its message on failure."""
    with tempfile.TemporaryDirectory(prefix="codeyard-git-home-") as home:
        process = await asyncio.create_subprocess_exec(
            "git",
            *clone.safe_config(),
            *args,
            cwd=cwd,
            env=clone.clean_env(home, extra_env),
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
    policy: clone.ClonePolicy | None = None,
    auth: CloneAuth | None = None,
) -> Workspace:
    """Create (or, on resume, complete) the workspace: clone missing repos, copy missing attachments.

    On resume the agent has had the workspace to itself: nothing in it is followed (a repository directory, its
    ``.git`` or ``attachments/`` replaced by a symlink is refused), see ``codeyard.sandbox.confine``.
    """
    root.mkdir(parents=True, exist_ok=True)
    policy = policy or clone.ClonePolicy()
    workspace = Workspace(root)
    taken: set[str] = set()
    try:
        for entry in dict.fromkeys(repos):  # the same entry twice is one clone
            url = resolve_repo(entry, git_base_url, allow_local, data_dir)
            name = _dir_name(url, taken)
            if not _cloned(root, name):
                await _clone(root, name, entry, url, policy, auth, data_dir)
            workspace.repos[entry] = root / name
        for file_name, source in attachments:
            if source.exists():
                workspace.files.append(_place(root, file_name, source))
    except (confine.ConfinementError, clone.CloneError) as exc:
        raise WorkspaceError(str(exc)) from exc
    return workspace


def _cloned(root: Path, name: str) -> bool:
    """Whether ``root/name`` is a clone to reuse: a real directory with a real ``.git`` directory."""
    info = confine.lstat(root, name)
    if info is None:
        return False
    if not stat.S_ISDIR(info.st_mode):
        raise WorkspaceError(f"{name} in the workspace is no longer a directory (a symbolic link?); it is not used")
    git_dir = confine.lstat(root, f"{name}/.git")
    if git_dir is not None and not stat.S_ISDIR(git_dir.st_mode):
        raise WorkspaceError(f"{name}/.git in the workspace is not a directory (a link or gitdir file?); not used")
    return git_dir is not None


def _remove(root: Path, name: str) -> None:
    """Remove ``root/name`` whatever it is, never following a link (``shutil.rmtree`` works on fds)."""
    info = confine.lstat(root, name)
    if info is None:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(root / name)
    else:
        (root / name).unlink()


async def _clone(
    root: Path,
    name: str,
    entry: str,
    url: str,
    policy: clone.ClonePolicy,
    auth: CloneAuth | None = None,
    forbidden: Path | None = None,
) -> None:
    _remove(root, name)
    partial = f".{name}.cloning"
    _remove(root, partial)
    if url.startswith("/"):
        await _clone_local(Path(url), root, partial, entry, policy, forbidden)
    else:
        credentials = clone.CloneAuth(env=auth.env_for(url)) if auth else None
        try:
            await clone.clone_remote(url, root / partial, policy, credentials, shown=clone.shown_url(entry))
        except clone.CloneError as exc:
            plain = auth.explain(url, exc.output) if auth else None
            if plain:  # the git connection's token was refused: say so (never the token)
                raise WorkspaceError(plain) from None
            raise
        clean = _without_credentials(url)
        if clean != url:  # a URL given with a password keeps it out of the workspace's .git/config
            await git("remote", "set-url", "origin", clean, cwd=root / partial)
    (root / partial).rename(root / name)


async def _clone_local(
    path: Path, root: Path, partial: str, entry: str, policy: clone.ClonePolicy, forbidden: Path | None
) -> None:
    """Clone through a descriptor on the checked git dir (``open_git_dir``), then check its alternates
    again; the workspace's ``origin`` is the path the user gave."""
    git_dir = await asyncio.to_thread(open_git_dir, path, forbidden)
    try:
        await clone.clone_local(path, root / partial, policy, shown=entry[:300], source_fd=git_dir)
        await asyncio.to_thread(check_alternates, git_dir, forbidden, path)
    except WorkspaceError:
        _remove(root, partial)
        raise
    finally:
        os.close(git_dir)
    await git("remote", "set-url", "origin", str(path), cwd=root / partial)


def _without_credentials(url: str) -> str:
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.IGNORECASE)


def _place(root: Path, name: str, source: Path) -> Path:
    """``attachments/<name>``; another file of the same name becomes ``<stem>-2<suffix>`` and so on. A file already
    placed (same content, on resume) is reused, so each upload has one stable path. Nothing is written through a
    link: see ``codeyard.sandbox.confine``."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 1000):
        relative = PurePosixPath("attachments", name if n == 1 else f"{stem}-{n}{suffix}")
        try:
            confine.write_bytes(root, relative, source, exclusive=True)
            return root / relative
        except FileExistsError:
            if _same(root, relative, source):
                return root / relative
        except (FileNotFoundError, NotADirectoryError) as exc:  # the folder was replaced while the file was placed
            raise WorkspaceError(f"attachments/ changed while {name[:100]} was placed; it is not placed") from exc
    raise WorkspaceError(f"too many attachments named {name[:100]}")


def _same(root: Path, relative: PurePosixPath, source: Path) -> bool:
    """Whether the workspace file holds exactly ``source``'s content (a link or anything but a file: no)."""
    size = source.stat().st_size
    try:
        with confine.open_file(root, relative) as placed, open(source, "rb") as original:
            if os.fstat(placed.fileno()).st_size != size:
                return False
            while True:
                a, b = placed.read(1024 * 1024), original.read(1024 * 1024)
                if a != b:
                    return False
                if not a:
                    return True
    except confine.ConfinementError:
        return False
