"""The bubblewrap backend: each command in fresh namespaces with a read-only system and one writable workspace.

The sandbox sees ``/usr`` and ``/etc`` read-only, the workspace at ``/workspace`` (also its HOME and start
directory), a private ``/tmp`` and ``/dev/shm`` of bounded size, its own ``/proc`` (with ``/proc/sys``
read-only) and a read-only ``/dev``, and nothing else of the host: not the server's data dir, keys or
home. It runs as uid 1000 with no capabilities, in a new session (no TIOCSTI into the server's terminal),
unable to make further user namespaces (``--disable-userns``), under a seccomp filter (seccomp.py), and
on the host as an unprivileged uid: the server's own when it is not root, a dedicated one when it is
(ownership.py). The network is a private loopback only, unless allowed, and then the public internet
only (egress.py).

The environment reaches bwrap through execve rather than ``--setenv``: argv is readable by every user of
the host in ``/proc/<pid>/cmdline``, the environment only by the owner, and secrets travel in it.
"""

import asyncio
import contextlib
import functools
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from codeyard.sandbox.base import CommandResult, SandboxError, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree
from codeyard.sandbox.egress import EgressAttachment, resolver_config
from codeyard.sandbox.environment import command_environment
from codeyard.sandbox.ownership import (
    STAGE,
    Identity,
    adopt,
    demoter,
    prepare_stage,
    resolve_identity,
    stage_workspace,
)
from codeyard.sandbox.process import Launch, ProcessGroupRunner
from codeyard.sandbox.seccomp import seccomp_fd
from codeyard.sandbox.workdir import resolve_workdir

SANDBOX_WORKSPACE = PurePosixPath("/workspace")
SANDBOX_UID = 1000
_SYSTEM_DIRS = ("/usr", "/etc")
_ROOT_ENTRIES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SENSITIVE = ("/etc/shadow*", "/etc/gshadow*", "/etc/ssh/ssh_host_*_key", "/etc/ssl/private")
"""Hidden even from a read-only ``/etc``, whoever the sandbox runs as (a server running as a normal user
may be in a group that can read some of them)."""
_PROBE_TIMEOUT_S = 10.0
_DEFAULT_TMP_BYTES = SandboxLimits().tmp_bytes

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
        identity: Identity | None = None,
        blocked: Sequence[str] = (),
    ) -> None:
        """``identity``: the host uid/gid commands run as, required when the server runs as root.
        ``network``: allow the public internet; ``blocked`` lists the ranges that stay closed."""
        if os.geteuid() == 0 and identity is None:
            raise SandboxError("a server running as root must give the sandbox an unprivileged uid")
        self.workspace = workspace
        self._identity = identity
        self._network = network
        self._blocked = list(blocked)
        if identity is not None:
            prepare_stage()
        options = bwrap_options(
            workspace,
            network=network,
            hidden_paths=hidden_paths,
            tmp_bytes=limits.tmp_bytes,
            staged=identity is not None,
        )
        self._options = [bwrap, *options]
        self._prelude = _NPROC_PRELUDE.format(max_processes=limits.max_processes)
        self._runner = ProcessGroupRunner(limits, cgroups, nproc_rlimit=False)

    async def run(
        self, command: str, *, timeout: float, env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> CommandResult:
        workdir = SANDBOX_WORKSPACE / resolve_workdir(self.workspace, cwd)
        environment = command_environment(str(SANDBOX_WORKSPACE), env)
        if self._identity is not None:
            try:
                await asyncio.to_thread(adopt, self.workspace, self._identity)
            except OSError as exc:
                raise SandboxError(f"could not hand the workspace to the sandbox's uid: {exc}") from exc
        fds: list[int] = []
        workspace_fd: int | None = None
        egress: EgressAttachment | None = None
        try:
            fds.append(seccomp_fd())
            options = ["--seccomp", str(fds[-1])]
            if self._network:
                egress = EgressAttachment(self._blocked, demoter(self._identity) if self._identity else None)
                fds.append(_data_fd(resolver_config()))
                options += ["--ro-bind-data", str(fds[-1]), _resolver_path(), *egress.bwrap_options]
            if self._identity is not None:
                # Close-on-exec and never in pass_fds: the forked child checks the bind with it before it
                # executes bwrap, and a command must never inherit it (".." from a descriptor opened
                # outside the sandbox's root leads out of the sandbox).
                workspace_fd = os.open(self.workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            argv = [*self._options, *options, "--chdir", str(workdir), "--", "/bin/bash", "-c", self._prelude]
            argv += ["bash", command]
            launch = Launch(
                pass_fds=[*fds, *(egress.child_fds if egress else ())],
                child_setup=self._child_setup(workspace_fd),
                started=egress.started if egress else None,
                attach=egress.attach if egress else None,
                workspace=self.workspace,
            )
            return await self._runner.run(argv, env=environment, cwd=Path("/"), timeout=timeout, launch=launch)
        finally:
            if workspace_fd is not None:
                os.close(workspace_fd)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if egress is not None:
                await egress.close()

    def _child_setup(self, workspace_fd: int | None) -> "functools.partial[None] | None":
        if self._identity is None or workspace_fd is None:
            return None
        return functools.partial(_enter_as, self.workspace, workspace_fd, self._identity)

    async def kill_all(self) -> None:
        await self._runner.kill_all()


def _enter_as(workspace: Path, workspace_fd: int, identity: Identity) -> None:
    """In the forked child (root): the workspace on the stage of a private mount namespace, then the uid."""
    stage_workspace(workspace, workspace_fd)
    demoter(identity)()


def _data_fd(data: bytes) -> int:
    fd = os.memfd_create("codeyard-data", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _resolver_path() -> str:
    """Where the sandbox's resolver configuration goes: ``/etc/resolv.conf``, or the file it links to."""
    resolver = Path("/etc/resolv.conf")
    if resolver.is_symlink():
        target = resolver.resolve()
        if not target.is_relative_to("/etc"):
            return str(target)
    return str(resolver)


def bwrap_options(
    workspace: Path,
    *,
    network: bool,
    hidden_paths: Sequence[Path],
    tmp_bytes: int = _DEFAULT_TMP_BYTES,
    staged: bool = False,
) -> list[str]:
    """bwrap's fixed options (everything before the per-command ones) for a sandbox around ``workspace``;
    ``staged``: bwrap runs as the sandbox uid and finds the workspace on ``STAGE``."""
    del network  # the network is never shared: egress.py attaches one per command when it is allowed
    options = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]
    options += ["--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    visible: list[tuple[Path, PurePosixPath]] = []
    for entry in (*_SYSTEM_DIRS, *_ROOT_ENTRIES):
        path = Path(entry)
        if path.is_symlink():
            options += ["--symlink", os.readlink(path), entry]
        elif path.is_dir():
            options += ["--ro-bind", entry, entry]
            visible.append((path.resolve(), PurePosixPath(entry)))
    options += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev"]
    options += ["--size", str(tmp_bytes), "--tmpfs", "/tmp", "--size", str(tmp_bytes), "--tmpfs", "/dev/shm"]
    options += ["--bind", str(STAGE if staged else workspace), str(SANDBOX_WORKSPACE)]
    visible.append((workspace.resolve(), SANDBOX_WORKSPACE))
    sensitive = [Path(match) for pattern in _SENSITIVE for match in sorted(glob.glob(pattern))]
    for hidden in (*sensitive, *hidden_paths):
        options += _hiding(hidden.resolve(), visible)
    # bwrap's /dev is a tmpfs the sandbox's user owns, without a size: read-only, so that it cannot be
    # used to pin memory past the sized /tmp and /dev/shm (device nodes still work on it).
    options += ["--remount-ro", "/dev", "--remount-ro", "/"]
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


def bwrap_problem(identity: Identity | None = None) -> str | None:
    """Why bubblewrap cannot run a sandbox on this host, or None when it can. Probed once per process (and
    identity) by starting ``true`` in a sandbox built exactly like a real one (user namespaces may be
    blocked by a container's seccomp profile or by AppArmor). A server running as root probes as
    ``identity``, by default the one ``resolve_identity`` gives."""
    if identity is None and os.geteuid() == 0:
        identity = resolve_identity()
    return _probe(identity)


@functools.cache
def _probe(identity: Identity | None) -> str | None:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed"
    try:
        seccomp = seccomp_fd()
    except SandboxError as exc:
        return str(exc)
    try:
        with tempfile.TemporaryDirectory(prefix="codeyard-probe-") as workspace:
            return _run_probe(bwrap, Path(workspace), seccomp, identity)
    finally:
        os.close(seccomp)


def _run_probe(bwrap: str, workspace: Path, seccomp: int, identity: Identity | None) -> str | None:
    argv = [bwrap, *bwrap_options(workspace, network=False, hidden_paths=(), staged=identity is not None)]
    argv += ["--seccomp", str(seccomp), "--chdir", str(SANDBOX_WORKSPACE), "--", "/bin/true"]
    setup = None
    workspace_fd: int | None = None
    if identity is not None:
        try:
            prepare_stage()
            adopt(workspace, identity)
        except (SandboxError, OSError) as exc:
            return f"the sandbox uid could not be prepared: {exc}"
        workspace_fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        setup = functools.partial(_enter_as, workspace, workspace_fd, identity)
    try:
        probe = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={},
            timeout=_PROBE_TIMEOUT_S,
            check=False,
            pass_fds=[seccomp],
            preexec_fn=setup,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not be started: {exc}"
    finally:
        if workspace_fd is not None:
            os.close(workspace_fd)
    if probe.returncode != 0:
        detail = probe.stderr.decode("utf-8", errors="replace").strip()
        return f"bwrap exited with status {probe.returncode}: {detail}"
    return None


def bwrap_available(identity: Identity | None = None) -> bool:
    """Whether commands can run under bubblewrap here (probed once per process)."""
    return bwrap_problem(identity) is None
