"""The fallback backend: a plain subprocess in the workspace, for hosts where bubblewrap cannot start.

It keeps the clean environment, the rlimits, the cgroup process limit when there is one, and the
process-group kill, but it cannot hide any file or restrict the network: the factory logs that.

It never runs a command as root. A server running as root hands the workspace to the sandbox's
unprivileged uid (the one bubblewrap uses, ownership.py) and the forked child drops to that uid and gid
with no supplementary groups before it executes the command; where that cannot be done, commands are
refused. Before it drops root, the child enters a private mount namespace in which the data dir (or the
highest parent of the workspace that uid cannot enter) is covered by an empty tmpfs holding only the
workspace, on its own path: the command reaches its workspace by absolute path and no other session's.
Where mount namespaces are not allowed (a container without CAP_SYS_ADMIN), commands still run as that
uid, in the workspace, but absolute paths through the closed parents fail (the factory logs it). In every
case the child sets ``PR_SET_NO_NEW_PRIVS`` (no set-user-id program such as ``sudo`` or ``su`` can take
it back up) and loads the same seccomp filter as bubblewrap, when libseccomp is there.
"""

import asyncio
import functools
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import structlog

from codeyard.sandbox.base import CommandResult, SandboxError, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree
from codeyard.sandbox.environment import command_environment
from codeyard.sandbox.ownership import (
    Identity,
    adopt,
    covering_directory,
    demoter,
    forbid_new_privileges,
    prepare_stage,
    reveal_workspace,
)
from codeyard.sandbox.process import Launch, ProcessGroupRunner
from codeyard.sandbox.seccomp import seccomp_loader
from codeyard.sandbox.workdir import resolve_workdir

_log = structlog.get_logger(__name__)
_PROBE_TIMEOUT_S = 10.0


class LocalSandbox:
    """Commands of one session, run directly on the host with the workspace as cwd and HOME."""

    backend = "local"

    def __init__(
        self,
        workspace: Path,
        *,
        limits: SandboxLimits,
        cgroups: CgroupTree | None,
        identity: Identity | None = None,
        hidden_paths: Sequence[Path] = (),
    ) -> None:
        """``identity``: the host uid/gid commands run as; required when the server runs as root.
        ``hidden_paths``: the one holding the workspace (the data dir) is covered, see above."""
        if os.geteuid() == 0 and identity is None:
            raise SandboxError("a server running as root must give the local sandbox an unprivileged uid")
        self.workspace = workspace
        self._identity = identity
        self._cover: Path | None = None
        if identity is not None:
            hidden = [path.resolve() for path in hidden_paths]
            self._cover = covering_directory(workspace, identity, hidden)
        # Without a cgroup, RLIMIT_NPROC is the only process limit left; it counts every process of the
        # commands' uid, which is the best a plain subprocess can do.
        self._runner = ProcessGroupRunner(limits, cgroups, nproc_rlimit=cgroups is None)

    async def run(
        self, command: str, *, timeout: float, env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> CommandResult:
        workdir = self.workspace / resolve_workdir(self.workspace, cwd)
        environment = command_environment(str(self.workspace), env)
        problem = await asyncio.to_thread(local_problem, self._identity)
        if problem is not None:
            raise SandboxError(f"commands are refused rather than run as root: {problem}")
        cover = self._cover if self._cover is not None and await asyncio.to_thread(_can_cover) else None
        workspace_fd: int | None = None
        try:
            if self._identity is not None:
                try:
                    await asyncio.to_thread(adopt, self.workspace, self._identity)
                except OSError as exc:
                    raise SandboxError(f"could not hand the workspace to the sandbox's uid: {exc}") from exc
            reveal: Callable[[], None] | None = None
            if cover is not None:
                # Close-on-exec: the child checks the binds against it, the command never gets it.
                workspace_fd = os.open(self.workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                reveal = functools.partial(reveal_workspace, self.workspace, workspace_fd, cover, workdir)
            launch = Launch(workspace=self.workspace, child_setup=_child_setup(self._identity, reveal))
            argv = ["/bin/bash", "-c", command]
            return await self._runner.run(argv, env=environment, cwd=workdir, timeout=timeout, launch=launch)
        finally:
            if workspace_fd is not None:
                os.close(workspace_fd)

    async def kill_all(self) -> None:
        await self._runner.kill_all()


def _child_setup(identity: Identity | None, reveal: Callable[[], None] | None = None) -> Callable[[], None]:
    """In the forked child: the workspace revealed (as root), the unprivileged uid (when the server is
    root), no new privileges, the filter. The working directory is entered as the server, so the
    command starts in its workspace even where the parents stay closed to it."""
    demote = demoter(identity) if identity is not None else None
    try:
        load_filter: Callable[[], None] | None = seccomp_loader()
    except SandboxError as exc:
        _warn_unfiltered(str(exc))
        load_filter = None

    def setup() -> None:
        if reveal is not None:
            reveal()
        if demote is not None:
            demote()
            if os.getuid() == 0 or os.geteuid() == 0 or os.getgid() == 0 or os.getgroups():
                raise PermissionError("the command would still hold root's ids")
        forbid_new_privileges()
        if load_filter is not None:
            load_filter()

    return setup


@functools.cache
def _warn_unfiltered(reason: str) -> None:
    _log.warning("local sandbox: no seccomp filter", reason=reason)


def _run_true(preexec: Callable[[], None], *, check: bool) -> subprocess.CompletedProcess[bytes]:
    """``/bin/true`` started as a command would be (``preexec`` in the child), for the probes below."""
    return subprocess.run(
        ["/bin/true"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={},
        cwd="/",
        timeout=_PROBE_TIMEOUT_S,
        check=check,
        preexec_fn=preexec,
    )


@functools.cache
def local_problem(identity: Identity | None) -> str | None:
    """Why commands cannot start as ``identity`` here (no right to change uid, say), or None when they can.
    Probed once per process and identity by starting ``true`` exactly as a command would start."""
    try:
        probe = _run_true(_child_setup(identity), check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        if identity is None:
            return f"a command could not be started with no new privileges: {exc}"
        return (
            f"a command could not be started as uid {identity.uid} and gid {identity.gid} ({exc}); a server "
            "running as root needs CAP_SETUID and CAP_SETGID to drop root for its commands, or run the server "
            "as an unprivileged user"
        )
    if probe.returncode != 0:
        return f"/bin/true exited with status {probe.returncode} in the local sandbox"
    return None


@functools.cache
def _can_cover() -> bool:
    """Whether a child may make a private mount namespace here (probed once, with a throwaway workspace
    below a closed directory, as a real command would start); if not, the factory's warning says why."""
    try:
        prepare_stage()
        with tempfile.TemporaryDirectory(prefix="codeyard-probe-") as closed:
            workspace = Path(closed) / "workspace"
            workspace.mkdir()
            fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                reveal = functools.partial(reveal_workspace, workspace, fd, Path(closed), workspace)
                _run_true(reveal, check=True)
            finally:
                os.close(fd)
    except (OSError, SandboxError, subprocess.SubprocessError) as exc:
        _log.warning(
            "local sandbox: no private mount namespace; the workspace's parents stay closed to commands",
            reason=str(exc),
            not_enforced="absolute paths into the workspace; other paths below the data dir stay unreachable",
        )
        return False
    return True
