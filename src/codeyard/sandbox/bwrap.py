"""The bubblewrap backend: each command in fresh namespaces with a read-only system and one writable workspace.

The sandbox sees ``/usr`` and ``/etc`` read-only, the workspace at ``/workspace`` (also its HOME and start
directory), a private empty ``/tmp``, its own ``/proc`` and ``/dev``, and nothing else of the host: not the
server's data dir, keys or home. It runs as uid 1000 with no capabilities, in a new session (no TIOCSTI
into the server's terminal) and with only a private loopback unless the network is allowed.

The environment reaches bwrap through execve rather than ``--setenv``: argv is readable by every user of
the host in ``/proc/<pid>/cmdline``, the environment only by the owner, and secrets travel in it.
"""

import functools
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from codeyard.sandbox.base import CommandResult, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree
from codeyard.sandbox.environment import command_environment
from codeyard.sandbox.process import ProcessGroupRunner
from codeyard.sandbox.workdir import resolve_workdir

SANDBOX_WORKSPACE = PurePosixPath("/workspace")
SANDBOX_UID = 1000
_SYSTEM_DIRS = ("/usr", "/etc")
_ROOT_ENTRIES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SENSITIVE = ("/etc/shadow*", "/etc/gshadow*", "/etc/ssh/ssh_host_*_key", "/etc/ssl/private")
"""Hidden even from a read-only ``/etc``: when the server runs as root, the sandbox's uid maps to host
root, which owns these files and could read them."""
_PROBE_TIMEOUT_S = 10.0

# RLIMIT_NPROC counts per (user namespace, uid), so it is set inside the sandbox's own user namespace,
# where it bounds this command's processes only. (It does not bind host root: see cgroup.py.)
_NPROC_PRELUDE = 'ulimit -u {max_processes} 2>/dev/null; exec /bin/bash -c "$1"'


class BwrapSandbox:
    """Commands of one session, isolated by bubblewrap."""

    backend = "bwrap"

    def __init__(
        self,
        workspace: Path,
        *,
        bwrap: str,
        network: bool,
        limits: SandboxLimits,
        hidden_paths: Sequence[Path],
        cgroups: CgroupTree | None,
    ) -> None:
        self.workspace = workspace
        self._options = [bwrap, *bwrap_options(workspace, network=network, hidden_paths=hidden_paths)]
        self._prelude = _NPROC_PRELUDE.format(max_processes=limits.max_processes)
        self._runner = ProcessGroupRunner(limits, cgroups, nproc_rlimit=False)

    async def run(
        self, command: str, *, timeout: float, env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> CommandResult:
        workdir = SANDBOX_WORKSPACE / resolve_workdir(self.workspace, cwd)
        argv = [*self._options, "--chdir", str(workdir), "--", "/bin/bash", "-c", self._prelude, "bash", command]
        environment = command_environment(str(SANDBOX_WORKSPACE), env)
        return await self._runner.run(argv, env=environment, cwd=Path("/"), timeout=timeout)

    async def kill_all(self) -> None:
        await self._runner.kill_all()


def bwrap_options(workspace: Path, *, network: bool, hidden_paths: Sequence[Path]) -> list[str]:
    """bwrap's options (everything before ``--chdir``) for a sandbox around ``workspace``."""
    options = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    options += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    if network:
        options.append("--share-net")
    visible: list[tuple[Path, PurePosixPath]] = []
    for entry in (*_SYSTEM_DIRS, *_ROOT_ENTRIES):
        path = Path(entry)
        if path.is_symlink():
            options += ["--symlink", os.readlink(path), entry]
        elif path.is_dir():
            options += ["--ro-bind", entry, entry]
            visible.append((path.resolve(), PurePosixPath(entry)))
    resolver = Path("/etc/resolv.conf").resolve()
    if network and resolver.exists() and _inside_sandbox(resolver, visible) is None:
        options += ["--ro-bind", str(resolver), str(resolver)]
    options += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    options += ["--bind", str(workspace), str(SANDBOX_WORKSPACE)]
    visible.append((workspace.resolve(), SANDBOX_WORKSPACE))
    sensitive = [Path(match) for pattern in _SENSITIVE for match in sorted(glob.glob(pattern))]
    for hidden in (*sensitive, *hidden_paths):
        options += _hiding(hidden.resolve(), visible)
    options += ["--remount-ro", "/"]
    return options


def _hiding(host_path: Path, visible: list[tuple[Path, PurePosixPath]]) -> list[str]:
    """Options that cover ``host_path`` inside the sandbox: an empty tmpfs over a directory, an unreadable
    device node over a file, nothing when the sandbox cannot see it anyway."""
    target = _inside_sandbox(host_path, visible)
    if target is None or not host_path.exists():
        return []
    if host_path.is_dir():
        return ["--tmpfs", str(target)]
    return ["--ro-bind", "/dev/null", str(target)]


def _inside_sandbox(host_path: Path, visible: list[tuple[Path, PurePosixPath]]) -> PurePosixPath | None:
    for source, destination in visible:
        if host_path.is_relative_to(source):
            return destination / host_path.relative_to(source)
    return None


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot run a sandbox on this host, or None when it can. Probed once per process by
    starting ``true`` in a sandbox built exactly like a real one (user namespaces may be blocked by a
    container's seccomp profile or by AppArmor)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed"
    with tempfile.TemporaryDirectory(prefix="codeyard-probe-") as workspace:
        argv = [bwrap, *bwrap_options(Path(workspace), network=False, hidden_paths=())]
        argv += ["--chdir", str(SANDBOX_WORKSPACE), "--", "/bin/true"]
        try:
            probe = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, env={}, timeout=_PROBE_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not be started: {exc}"
    if probe.returncode != 0:
        detail = probe.stderr.decode("utf-8", errors="replace").strip()
        return f"bwrap exited with status {probe.returncode}: {detail}"
    return None


def bwrap_available() -> bool:
    """Whether commands can run under bubblewrap here (probed once per process)."""
    return bwrap_problem() is None
