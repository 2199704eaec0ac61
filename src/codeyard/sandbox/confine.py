"""File operations the server does on a workspace from the host side, confined to it.

The agent controls everything inside its workspace and may plant symbolic links, hard links or FIFOs, and
swap them while the server works. Every operation here therefore walks the path one component at a time
from a directory file descriptor (``openat``-style) with ``O_NOFOLLOW``: a symlink anywhere on the path is
refused, there is no gap between a check and the use of what was checked, and ``..`` never leaves the
root. Files are written to a new file in the target directory and renamed into place, so an existing name
that is a hard link to a file outside the workspace is replaced, never written through. Files the server
reads must be regular files with one link.
"""

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from codeyard.sandbox.base import SandboxError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class ConfinementError(SandboxError):
    """A host-side file operation on a workspace was refused (symlink, hard link, escape, not a file)."""


def relative_parts(path: str | PurePosixPath) -> tuple[str, ...]:
    """``path`` as components relative to the root; absolute paths and ``..`` are refused."""
    text = str(path)
    if "\0" in text:
        raise ConfinementError("a path must not contain a NUL character")
    pure = PurePosixPath(text)
    if pure.is_absolute():
        raise ConfinementError(f"{text[:200]!r} is outside the workspace")
    parts = tuple(part for part in pure.parts if part not in ("", "."))
    if ".." in parts:
        raise ConfinementError(f"{text[:200]!r} leads outside the workspace")
    return parts


def _shown(parts: tuple[str, ...]) -> str:
    return "/".join(parts) or "."


def _refuse(exc: OSError, parts: tuple[str, ...]) -> ConfinementError:
    shown = _shown(parts)
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return ConfinementError(f"{shown!r} is a symbolic link; the server does not follow links in a workspace")
    if exc.errno == errno.ENOTDIR:
        return ConfinementError(f"{shown!r} is not a directory (or is a symbolic link)")
    if exc.errno == errno.ENOENT:
        return ConfinementError(f"{shown!r} does not exist")
    if exc.errno == errno.EISDIR:
        return ConfinementError(f"{shown!r} is a directory")
    return ConfinementError(f"{shown!r}: {exc.strerror or exc}")


@contextmanager
def open_root(root: Path) -> Iterator[int]:
    """A directory fd of the workspace root (which the server created; it must not be a symlink itself)."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise _refuse(exc, (str(root),)) from exc
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def open_dir(root: Path, path: str | PurePosixPath, *, create: bool = False) -> Iterator[int]:
    """A directory fd of ``root/path``, every component opened without following links.

    ``create`` makes missing directories (mode 0700 minus nothing the umask removes, owned like their parent).
    """
    parts = relative_parts(path)
    with open_root(root) as root_fd:
        fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            current, fd = fd, -1
            fd = _step(current, part, parts[: i + 1], create)  # closes ``current``
        yield fd
    finally:
        if fd >= 0:
            os.close(fd)


def _step(fd: int, part: str, shown: tuple[str, ...], create: bool) -> int:
    """Open the directory ``part`` below ``fd`` (closing ``fd``), creating it when asked."""
    try:
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                _own_like_parent(fd, part)
            except FileExistsError:
                pass  # made meanwhile: opened (and checked) below like any other
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise _refuse(exc, shown) from exc
    finally:
        os.close(fd)
    return child


def _own_like_parent(dir_fd: int, name: str) -> None:
    """When the server runs as root, what it creates belongs to the workspace's owner (the sandbox's user)."""
    if os.geteuid() != 0:
        return
    parent = os.fstat(dir_fd)
    if parent.st_uid != 0 or parent.st_gid != 0:
        os.chown(name, parent.st_uid, parent.st_gid, dir_fd=dir_fd, follow_symlinks=False)


def _split(path: str | PurePosixPath) -> tuple[tuple[str, ...], str]:
    parts = relative_parts(path)
    if not parts:
        raise ConfinementError("the workspace itself is a directory, not a file")
    return parts, parts[-1]


def lstat(root: Path, path: str | PurePosixPath) -> os.stat_result | None:
    """``lstat`` of ``root/path`` through confined directories; None when it does not exist."""
    parts, name = _split(path)
    with open_dir(root, PurePosixPath(*parts[:-1])) as dir_fd:
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None


@contextmanager
def open_file(root: Path, path: str | PurePosixPath) -> Iterator[BinaryIO]:
    """``root/path`` opened for reading: a regular file with a single link, reached without following links."""
    parts, name = _split(path)
    with open_dir(root, PurePosixPath(*parts[:-1])) as dir_fd:
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            raise _refuse(exc, parts) from exc
    with os.fdopen(fd, "rb") as handle:
        _check_regular(os.fstat(fd), parts)
        os.set_blocking(fd, True)
        yield handle


def read_bytes(root: Path, path: str | PurePosixPath, *, max_bytes: int) -> bytes:
    """The content of ``root/path`` (see ``open_file``); ``ConfinementError`` when it is larger than ``max_bytes``."""
    with open_file(root, path) as handle:
        if os.fstat(handle.fileno()).st_size > max_bytes:
            raise ConfinementError(f"{_shown(relative_parts(path))!r} is larger than {max_bytes} bytes")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ConfinementError(f"{_shown(relative_parts(path))!r} is larger than {max_bytes} bytes")
    return data


def _check_regular(info: os.stat_result, parts: tuple[str, ...]) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise ConfinementError(f"{_shown(parts)!r} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ConfinementError(f"{_shown(parts)!r} is not a regular file")
    if info.st_nlink != 1:
        raise ConfinementError(f"{_shown(parts)!r} has several hard links; the server does not use such files")


def write_bytes(root: Path, path: str | PurePosixPath, data: bytes | Path, *, exclusive: bool = False) -> bool:
    """Write ``root/path`` (parents made as needed) through a new file renamed into place; whether it existed.

    ``data`` is the content, or a server-side file to copy. ``exclusive`` refuses an existing name instead
    (``FileExistsError``). An existing regular file keeps its mode.
    """
    parts, name = _split(path)
    with open_dir(root, PurePosixPath(*parts[:-1]), create=True) as dir_fd:
        try:
            old = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None and exclusive:
            raise FileExistsError(errno.EEXIST, "exists", _shown(parts))
        if old is not None and stat.S_ISDIR(old.st_mode):
            raise ConfinementError(f"{_shown(parts)!r} is a directory")
        mode = stat.S_IMODE(old.st_mode) if old is not None and stat.S_ISREG(old.st_mode) else 0o644
        temp = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, Path):
                    with open(data, "rb") as source:
                        shutil.copyfileobj(source, out, 1024 * 1024)
                else:
                    out.write(data)
                os.fchmod(out.fileno(), mode)
            _own_like_parent(dir_fd, temp)
            if exclusive:
                # link() never replaces: a name that appeared meanwhile stays as it is
                os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            else:
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            if isinstance(exc, FileExistsError) and exclusive:
                raise
            raise _refuse(exc, parts) from exc
        finally:
            try:
                os.unlink(temp, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
    return old is not None
