"""Per-command pids cgroups.

RLIMIT_NPROC does not bind processes whose host uid is root, and bubblewrap maps the sandbox's uid to the
server's uid: a server running as root gets no process limit from rlimits at all. A pids cgroup counts
every process and thread of one command whatever its uid, and lets us kill the whole command even when a
process left its process group. We use one when the host gives us a writable pids hierarchy (cgroup v1
``pids``, or a v2 group whose ``cgroup.subtree_control`` enables ``pids``), and rlimits alone otherwise.
"""

import asyncio
import contextlib
import os
import signal
import uuid
from pathlib import Path

import structlog

_log = structlog.get_logger(__name__)
_PREFIX = "codeyard-"
_REMOVE_ATTEMPTS = 200
_REMOVE_PAUSE_S = 0.01


class CommandCgroup:
    """The cgroup holding one command's processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.procs_file = str(path / "cgroup.procs")

    def join(self) -> None:
        """Move the calling process into this group; runs in the forked child before exec."""
        fd = os.open(self.procs_file, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def kill(self) -> None:
        """SIGKILL every member (v2 kills atomically; v1 members are killed one by one)."""
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists():
            with contextlib.suppress(FileNotFoundError):
                kill_file.write_text("1")
            return
        for pid in self._members():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def remove(self) -> None:
        """Kill what is left and delete the group once it is empty."""
        for _ in range(_REMOVE_ATTEMPTS):
            self.kill()
            try:
                self.path.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                await asyncio.sleep(_REMOVE_PAUSE_S)
            else:
                return
        _log.warning("cgroup still has processes after SIGKILL; left in place", cgroup=str(self.path))

    def _members(self) -> list[int]:
        try:
            return [int(line) for line in Path(self.procs_file).read_text().split()]
        except FileNotFoundError:
            return []


class CgroupTree:
    """The cgroup under which per-command groups are made (the server's own group in the pids hierarchy)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self, max_pids: int) -> CommandCgroup:
        path = self.path / f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        path.mkdir()
        (path / "pids.max").write_text(str(max_pids))
        return CommandCgroup(path)

    @classmethod
    def find(cls) -> "CgroupTree | None":
        """The first writable pids hierarchy of this process, or None."""
        for path in _pids_group_dirs():
            tree = cls(path)
            try:
                probe = tree.create(1)
                probe.path.rmdir()
            except OSError:
                continue
            tree.remove_stale()
            return tree
        return None

    def remove_stale(self) -> None:
        """Delete the empty groups left by codeyard processes that died in the middle of a command."""
        for path in self.path.glob(f"{_PREFIX}*"):
            owner = path.name.removeprefix(_PREFIX).partition("-")[0]
            if owner.isdigit() and not pid_alive(int(owner)):
                try:
                    path.rmdir()
                except OSError:
                    continue


def _pids_group_dirs() -> list[Path]:
    """Host directories of this process's cgroup in each hierarchy that can limit pids."""
    try:
        membership = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    v1_pids: list[tuple[str, str]] = []
    v2: list[tuple[str, str]] = []
    for line in mounts:
        fields, _, tail = line.partition(" - ")
        described = tail.split()
        if len(described) < 3:
            continue
        fstype, options = described[0], described[2]
        root, mount_point = fields.split()[3:5]
        if fstype == "cgroup" and "pids" in options.split(","):
            v1_pids.append((root, mount_point))
        elif fstype == "cgroup2":
            v2.append((root, mount_point))
    found: list[Path] = []
    for line in membership:
        _hierarchy, controllers, group = line.split(":", 2)
        if controllers:
            if "pids" in controllers.split(","):
                found += _locate(group, v1_pids)
        else:
            found += [path for path in _locate(group, v2) if _delegates_pids(path)]
    return found


def _locate(group: str, mounts: list[tuple[str, str]]) -> list[Path]:
    located = []
    for root, mount_point in mounts:
        if group == root or group.startswith(root.rstrip("/") + "/"):
            located.append(Path(mount_point) / group[len(root) :].lstrip("/"))
    return located


def _delegates_pids(path: Path) -> bool:
    try:
        return "pids" in (path / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 probes without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
