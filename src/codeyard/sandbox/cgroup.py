"""Per-command cgroups: a process limit, and memory and CPU limits where the host allows them.

RLIMIT_NPROC does not bind processes whose host uid is root, and bubblewrap maps the sandbox's uid to the
server's uid: a server running as root gets no process limit from rlimits at all. A pids cgroup counts
every process and thread of one command whatever its uid, and lets us kill the whole command even when a
process left its process group. We use one when the host gives us a writable pids hierarchy (cgroup v1
``pids``, or a v2 group whose ``cgroup.subtree_control`` enables ``pids``), and rlimits alone otherwise.

The same command also joins a memory group (``memory.max``, no swap; v1 ``memory.limit_in_bytes``) and a
cpu group (``cpu.max``; v1 ``cpu.cfs_quota_us``) when the host has a writable one of those: memory counts
every process of the command, its page cache and its ``/tmp``, which RLIMIT_AS cannot.
"""

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import Sequence
from pathlib import Path

import structlog

_log = structlog.get_logger(__name__)
_PREFIX = "codeyard-"
_REMOVE_ATTEMPTS = 200
_REMOVE_PAUSE_S = 0.01
_CPU_PERIOD_US = 100_000


class CommandCgroup:
    """The cgroups holding one command's processes (one per hierarchy; the first limits pids)."""

    def __init__(self, path: Path, *, others: Sequence[Path] = (), memory: Path | None = None) -> None:
        self.path = path
        self.paths = [path, *others]
        self.memory = memory
        self.procs_files = [str(group / "cgroup.procs") for group in self.paths]

    @property
    def procs_file(self) -> str:
        return self.procs_files[0]

    def join(self) -> None:
        """Move the calling process into these groups; runs in the forked child before exec."""
        for procs_file in self.procs_files:
            fd = os.open(procs_file, os.O_WRONLY)
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

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of this command for going over the memory limit."""
        if self.memory is None:
            return False
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError, ValueError):
                for line in (self.memory / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        return False

    async def remove(self) -> None:
        """Kill what is left and delete the groups once they are empty."""
        for group in self.paths:
            await self._remove(group)

    async def _remove(self, group: Path) -> None:
        for _ in range(_REMOVE_ATTEMPTS):
            self.kill()
            try:
                group.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                await asyncio.sleep(_REMOVE_PAUSE_S)
            else:
                return
        _log.warning("cgroup still has processes after SIGKILL; left in place", cgroup=str(group))

    def _members(self) -> list[int]:
        try:
            return [int(line) for line in Path(self.procs_file).read_text().split()]
        except FileNotFoundError:
            return []


class CgroupTree:
    """The cgroups under which per-command groups are made: the server's own group in the pids hierarchy,
    and in the memory and cpu hierarchies when they are writable (on cgroup v2 all may be one group)."""

    def __init__(self, path: Path, *, memory: Path | None = None, cpu: Path | None = None) -> None:
        self.path = path
        self.memory = memory
        self.cpu = cpu

    def create(self, max_pids: int, *, memory_bytes: int | None = None, cpus: float | None = None) -> CommandCgroup:
        name = f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        made: list[Path] = []
        try:
            pids_group = _make(self.path / name, made)
            (pids_group / "pids.max").write_text(str(max_pids))
            memory_group = None
            if memory_bytes is not None and self.memory is not None:
                memory_group = _make(self.memory / name, made)
                _limit_memory(memory_group, memory_bytes)
            if cpus is not None and self.cpu is not None:
                _limit_cpu(_make(self.cpu / name, made), cpus)
        except OSError:
            for group in reversed(made):
                with contextlib.suppress(OSError):
                    group.rmdir()
            raise
        return CommandCgroup(pids_group, others=made[1:], memory=memory_group)

    @classmethod
    def find(cls) -> "CgroupTree | None":
        """The first writable pids hierarchy of this process (with memory and cpu ones), or None."""
        for path in _group_dirs("pids"):
            if not _writable(path):
                continue
            memory = next((found for found in _group_dirs("memory") if _writable(found)), None)
            cpu = next((found for found in _group_dirs("cpu") if _writable(found)), None)
            tree = cls(path, memory=memory, cpu=cpu)
            tree.remove_stale()
            return tree
        return None

    def remove_stale(self) -> None:
        """Delete the empty groups left by codeyard processes that died in the middle of a command."""
        for parent in {self.path, self.memory, self.cpu}:
            if parent is None:
                continue
            for path in parent.glob(f"{_PREFIX}*"):
                owner = path.name.removeprefix(_PREFIX).partition("-")[0]
                if owner.isdigit() and not pid_alive(int(owner)):
                    try:
                        path.rmdir()
                    except OSError:
                        continue


def _make(path: Path, made: list[Path]) -> Path:
    """The group at ``path``, created unless an earlier hierarchy (cgroup v2) already made it."""
    if path not in made:
        path.mkdir()
        made.append(path)
    return path


def _limit_memory(group: Path, limit: int) -> None:
    if (group / "memory.max").exists():
        (group / "memory.max").write_text(str(limit))
        with contextlib.suppress(FileNotFoundError):
            (group / "memory.swap.max").write_text("0")
        return
    (group / "memory.limit_in_bytes").write_text(str(limit))
    with contextlib.suppress(OSError):  # only with swap accounting; must not be below the plain limit
        (group / "memory.memsw.limit_in_bytes").write_text(str(limit))


def _limit_cpu(group: Path, cpus: float) -> None:
    quota = max(1000, int(cpus * _CPU_PERIOD_US))
    if (group / "cpu.max").exists():
        (group / "cpu.max").write_text(f"{quota} {_CPU_PERIOD_US}")
        return
    (group / "cpu.cfs_period_us").write_text(str(_CPU_PERIOD_US))
    (group / "cpu.cfs_quota_us").write_text(str(quota))


def _writable(path: Path) -> bool:
    probe = path / f"{_PREFIX}{os.getpid()}-probe-{uuid.uuid4().hex}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError:
        return False
    return True


def _group_dirs(controller: str) -> list[Path]:
    """Host directories of this process's cgroup in each hierarchy that has ``controller``."""
    try:
        membership = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    v1: list[tuple[str, str]] = []
    v2: list[tuple[str, str]] = []
    for line in mounts:
        fields, _, tail = line.partition(" - ")
        described = tail.split()
        if len(described) < 3:
            continue
        fstype, options = described[0], described[2]
        root, mount_point = fields.split()[3:5]
        if fstype == "cgroup" and controller in options.split(","):
            v1.append((root, mount_point))
        elif fstype == "cgroup2":
            v2.append((root, mount_point))
    found: list[Path] = []
    for line in membership:
        _hierarchy, controllers, group = line.split(":", 2)
        if controllers:
            if controller in controllers.split(","):
                found += _locate(group, v1)
        else:
            found += [path for path in _locate(group, v2) if _delegates(path, controller)]
    return found


def _locate(group: str, mounts: list[tuple[str, str]]) -> list[Path]:
    located = []
    for root, mount_point in mounts:
        if group == root or group.startswith(root.rstrip("/") + "/"):
            located.append(Path(mount_point) / group[len(root) :].lstrip("/"))
    return located


def _delegates(path: Path, controller: str) -> bool:
    try:
        return controller in (path / "cgroup.subtree_control").read_text().split()
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
