"""A repository's own instructions for agents (contract §5): ``AGENTS.md``, ``CLAUDE.md`` and their kin.

They are read on the host, from clones whose content anyone who can push to the repository controls, so every
read is confined to the repository: each path component is opened relative to the one before with
``O_NOFOLLOW`` (a symlink anywhere on the way, say ``AGENTS.md -> /etc/shadow`` or ``.github -> /``, is
refused), only regular files with a single link are read, and sizes are capped.
"""

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("codeyard.runner")

FILES = ("AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md", ".cursorrules")
"""Instruction files at fixed paths, in the order they are given; then ``.devin/*.md`` by name."""
DEVIN_DIR = ".devin"
MAX_DEVIN_FILES = 20
MAX_FILE_BYTES = 32 * 1024
"""Most bytes of one file that are given; the rest is cut, and the cut is marked."""
MAX_TOTAL_BYTES = 128 * 1024
"""Most bytes of all instruction files of a session together."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block the open
_REFUSED = (errno.ELOOP, errno.ENOTDIR, errno.ENOENT, errno.EACCES, errno.ENXIO, errno.EISDIR)


@dataclass(frozen=True)
class InstructionFile:
    path: str
    """Where the agent finds it, relative to the workspace (``calc/AGENTS.md``)."""
    text: str
    cut: bool
    """Whether only the start of the file is given."""


def _open_dir(parent: int, name: str) -> int | None:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in _REFUSED:
            return None
        raise


def _read(parent: int, name: str, budget: int) -> tuple[bytes, bool] | None:
    """At most ``budget`` bytes of the regular file ``name`` in the directory ``parent``; None if it is anything
    else (a symlink, a directory, a device, a FIFO, a hard link to a file elsewhere) or absent."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in _REFUSED:
            return None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return None
        chunks: list[bytes] = []
        size = 0
        while size <= budget:
            chunk = os.read(fd, min(65536, budget + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        return data[:budget], len(data) > budget
    finally:
        os.close(fd)


def _relative_paths(repo: int) -> list[str]:
    paths = list(FILES)
    devin = _open_dir(repo, DEVIN_DIR)
    if devin is not None:
        try:
            names = sorted(n for n in os.listdir(devin) if n.endswith(".md") and not n.startswith("."))
        finally:
            os.close(devin)
        paths += [f"{DEVIN_DIR}/{name}" for name in names[:MAX_DEVIN_FILES]]
    return paths


def _read_relative(repo: int, relative: str, budget: int) -> tuple[bytes, bool] | None:
    *folders, name = relative.split("/")
    fd, opened = repo, []
    try:
        for folder in folders:
            next_fd = _open_dir(fd, folder)
            if next_fd is None:
                return None
            opened.append(next_fd)
            fd = next_fd
        return _read(fd, name, budget)
    finally:
        for each in opened:
            os.close(each)


def collect(repos: list[Path], workspace: Path) -> list[InstructionFile]:
    """The instruction files of each repository (a directory inside ``workspace``), within the size caps."""
    found: list[InstructionFile] = []
    left = MAX_TOTAL_BYTES
    for repo in repos:
        try:
            repo_fd = os.open(repo, _DIR_FLAGS)
        except OSError:
            continue
        try:
            for relative in _relative_paths(repo_fd):
                if left <= 0:
                    return found
                read = _read_relative(repo_fd, relative, min(MAX_FILE_BYTES, left))
                if read is None:
                    continue
                data, cut = read
                left -= len(data)
                text = data.decode("utf-8", errors="replace").strip()
                if text:
                    shown = (repo / relative).relative_to(workspace).as_posix()
                    found.append(InstructionFile(shown, text, cut))
        except OSError as exc:  # an unreadable repo must not stop the session: go without its instructions
            log.warning("repository instructions unreadable", repo=str(repo), error=str(exc))
        finally:
            os.close(repo_fd)
    return found
