"""Who commands run as, and keeping the workspace theirs.

A server running as root must not run commands as root: bubblewrap's ``--uid`` only renames the caller
inside the sandbox, so uid 1000 there would still be host root, able to write ``/proc/sys`` and read
root's 0600 files. So the forked child drops to a dedicated unprivileged uid/gid before it executes
bwrap, and bwrap builds an unprivileged user namespace in which that uid is 1000.

Two things follow. bwrap, running as that uid, resolves its bind sources by path, and the server's
data dir (and so the workspace) may sit below directories only root can enter; the child therefore
first enters a private mount namespace and binds the workspace, by file descriptor, on an empty
root-owned directory anyone may traverse (``STAGE``), which bwrap then binds on ``/workspace``. The
mount lives only in that child's namespace and vanishes with it. And the server writes into the
workspace as root (clones, attachments, file tools), so before each command the workspace is handed to
the sandbox uid: every entry not owned by it is changed with descriptor-based calls that never follow a
symbolic link, and a file with more than one hard link is left alone (it may be shared with a file
outside the workspace).
"""

import ctypes
import errno
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codeyard.sandbox.base import SandboxError
from codeyard.sandbox.libc import LIBC

ACCOUNT = "codeyard-sandbox"
"""The account an install may create for commands (``useradd --system --no-create-home codeyard-sandbox``)."""
FALLBACK_ID = 64_999
"""uid and gid used when that account does not exist: no stock Debian or Ubuntu account has it, and it
lies below the ranges handed out for subordinate ids (``/etc/subuid``, from 100000)."""
STAGE = Path("/run/codeyard-sandbox")
"""Mount point of the workspace in a command's private mount namespace (root-owned, 0755, empty)."""
_CLONE_NEWNS = 0x00020000
_MS_BIND = 4096
_MS_REC = 16384
_MS_SLAVE = 1 << 19
_PR_SET_NO_NEW_PRIVS = 38
_MS_NOSUID = 2
_MS_NODEV = 4


@dataclass(frozen=True)
class Identity:
    """The host uid and gid that commands run as."""

    uid: int
    gid: int

    def __post_init__(self) -> None:
        if self.uid <= 0 or self.gid <= 0:
            raise ValueError("the sandbox uid and gid must be unprivileged (not 0)")


def resolve_identity(uid: int | None = None, gid: int | None = None) -> Identity:
    """The configured ids, else those of the ``codeyard-sandbox`` account, else ``FALLBACK_ID``."""
    if uid is None or gid is None:
        try:
            account = pwd.getpwnam(ACCOUNT)
            default_uid, default_gid = account.pw_uid, account.pw_gid
        except KeyError:
            default_uid = default_gid = FALLBACK_ID
        uid = default_uid if uid is None else uid
        gid = default_gid if gid is None else gid
    return Identity(uid, gid)


def prepare_stage() -> None:
    """Create ``STAGE`` if needed and check that nobody but root could have put anything there."""
    try:
        STAGE.mkdir(mode=0o755, exist_ok=True)
        status = STAGE.lstat()
    except OSError as exc:
        raise SandboxError(f"could not create {STAGE}: {exc}") from exc
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != 0 or status.st_mode & 0o022:
        raise SandboxError(f"{STAGE} must be a directory owned by root and writable only by it")


def demoter(identity: Identity) -> Callable[[], None]:
    """A function for a forked child that drops every privilege for ``identity`` (no way back)."""

    def demote() -> None:
        os.setgroups([])
        os.setresgid(identity.gid, identity.gid, identity.gid)
        os.setresuid(identity.uid, identity.uid, identity.uid)

    return demote


def forbid_new_privileges() -> None:
    """In a forked child: no set-user-id program, file capability or LSM transition can raise the privileges
    of this process or anything it executes (``PR_SET_NO_NEW_PRIVS``, inherited and irreversible)."""
    if LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def stage_workspace(workspace: Path, workspace_fd: int) -> None:
    """In a forked child running as root: a private mount namespace with the workspace on ``STAGE``.

    A mount cannot be taken from another namespace's descriptor, so the bind goes by path (one only the
    server controls: the sandbox sees the workspace's contents, never its parents), and is checked to
    be the very directory ``workspace_fd`` was opened on."""
    if LIBC.unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    if LIBC.mount(None, b"/", None, _MS_REC | _MS_SLAVE, None) != 0:
        raise OSError(ctypes.get_errno(), "could not make the mounts private")
    if LIBC.mount(bytes(workspace), bytes(STAGE), None, _MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), "could not bind the workspace")
    expected, staged = os.fstat(workspace_fd), os.stat(STAGE, follow_symlinks=False)
    if (expected.st_dev, expected.st_ino) != (staged.st_dev, staged.st_ino):
        raise OSError(errno.EXDEV, "the workspace changed while it was being bound")


def covering_directory(workspace: Path, identity: Identity, hidden: list[Path]) -> Path | None:
    """For the local backend: the directory to cover with an empty tmpfs so that ``identity`` reaches the
    workspace by its own path and nothing else below that directory: the highest of the hidden paths
    holding the workspace (the data dir, with every other session's workspace) and of the workspace's
    parents that ``identity`` cannot enter. None when there is nothing to cover."""
    candidates = [path for path in hidden if path == workspace or path in workspace.parents]
    for parent in workspace.parents:
        if parent != Path("/") and not _enterable(parent, identity):
            candidates.append(parent)
    candidates = [path for path in candidates if path != workspace]
    return min(candidates, key=lambda path: len(path.parts), default=None)


def _enterable(directory: Path, identity: Identity) -> bool:
    try:
        status = directory.stat()
    except OSError:
        return False
    if status.st_uid == identity.uid:
        return bool(status.st_mode & stat.S_IXUSR)
    if status.st_gid == identity.gid:
        return bool(status.st_mode & stat.S_IXGRP)
    return bool(status.st_mode & stat.S_IXOTH)


def reveal_workspace(workspace: Path, workspace_fd: int, cover: Path, workdir: Path) -> None:
    """In a forked child running as root (the local backend): a private mount namespace in which ``cover``
    is an empty read-only-for-others tmpfs holding only the path down to the workspace, with the
    workspace (checked against ``workspace_fd``) bound there; then into ``workdir``."""
    stage_workspace(workspace, workspace_fd)
    if LIBC.mount(b"tmpfs", bytes(cover), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=0755,size=1m") != 0:
        raise OSError(ctypes.get_errno(), f"could not cover {cover}")
    os.makedirs(workspace, mode=0o755, exist_ok=True)
    if LIBC.mount(bytes(STAGE), bytes(workspace), None, _MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), "could not bind the workspace back on its path")
    expected, bound = os.fstat(workspace_fd), os.stat(workspace, follow_symlinks=False)
    if (expected.st_dev, expected.st_ino) != (bound.st_dev, bound.st_ino):
        raise OSError(errno.EXDEV, "the workspace changed while it was being bound")
    os.chdir(workdir)


def adopt(workspace: Path, identity: Identity) -> None:
    """Give every entry of ``workspace`` (itself included) to ``identity``, never following a link."""
    owner = (identity.uid, identity.gid)
    try:
        top = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxError(f"could not open the workspace: {exc}") from exc
    try:
        status = os.fstat(top)
        if (status.st_uid, status.st_gid) != owner:
            os.fchown(top, *owner)
        # fwalk opens each directory it enters without following links and yields that descriptor;
        # a symbolic link to a directory is listed but never entered.
        for _dirpath, _dirnames, filenames, dirfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            entered = os.fstat(dirfd)
            if (entered.st_uid, entered.st_gid) != owner:
                os.fchown(dirfd, *owner)
            for name in filenames:
                _adopt_file(name, dirfd, owner)
    finally:
        os.close(top)


def _adopt_file(name: str, dirfd: int, owner: tuple[int, int]) -> None:
    try:
        status = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if (status.st_uid, status.st_gid) == owner or stat.S_ISLNK(status.st_mode):
        return
    if not stat.S_ISREG(status.st_mode):
        return  # sockets and FIFOs come from commands, which already own them
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
            return
        raise
    try:
        opened = os.fstat(fd)
        if stat.S_ISREG(opened.st_mode) and opened.st_nlink == 1:
            os.fchown(fd, *owner)
    finally:
        os.close(fd)
