"""Starting, bounding and killing one command's processes: the part both backends share.

Each command starts in a new session (its own process group), under rlimits set in the forked child and,
when the host allows it, in its own pids cgroup. However the command ends (exit, timeout, cancellation of
the awaiting task, ``kill_all``) the whole group is SIGKILLed and reaped before ``run`` returns, so no
background process outlives the command that started it.
"""

import asyncio
import os
import resource
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeyard.sandbox.base import CommandResult, SandboxError, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree, CommandCgroup
from codeyard.sandbox.output import OutputBuffer
from codeyard.sandbox.usage import disk_usage, format_bytes

_DRAIN_S = 1.0
"""How long to wait for the output pipe to close once the command's processes are dead (a process that
escaped the group may still hold it)."""
_KILL_WAIT_S = 2.0
"""How long ``kill_all`` waits for the killed commands to be reaped (DELETE must finish within 2 s)."""
_USAGE_INTERVAL_S = 5.0
"""How often a running command's workspace is measured; slower when measuring takes long, so that the
measuring never takes more than a twentieth of the time."""
_USAGE_COST_FACTOR = 20


@dataclass
class Launch:
    """What one backend adds to starting a command."""

    pass_fds: Sequence[int] = ()
    child_setup: Callable[[], None] | None = None
    """Runs in the forked child after the cgroup and the rlimits (bwrap as root: mounts, then the uid)."""
    started: Callable[[], None] | None = None
    """Runs in the server once the process exists (to close the child's ends of pipes)."""
    attach: Callable[[], Awaitable[None]] | None = None
    """Runs once the process exists, before the command may go on (the network)."""
    workspace: Path | None = None
    """Host path of the workspace whose size is capped."""


class _CommandProtocol(asyncio.SubprocessProtocol):
    """Feeds the output into a buffer and reports the exit of the main process apart from the closing of
    the pipe: a background process may hold the pipe open long after the command itself has exited."""

    def __init__(self, output: OutputBuffer) -> None:
        loop = asyncio.get_running_loop()
        self.output = output
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes), "the pipes are opened in binary mode"
        self.output.feed(data)

    def process_exited(self) -> None:
        self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(None)


class _Running:
    """One started command, as ``kill_all`` sees it."""

    def __init__(self, transport: asyncio.SubprocessTransport, cgroup: CommandCgroup | None) -> None:
        self.transport = transport
        self.cgroup = cgroup
        self.cancelled = False
        self.finished = asyncio.Event()

    def kill(self) -> None:
        try:
            os.killpg(self.transport.get_pid(), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill()


class ProcessGroupRunner:
    """Runs argv vectors under ``limits``; ``nproc_rlimit`` also sets RLIMIT_NPROC in the child (for the
    local backend, where the child is the command itself)."""

    def __init__(self, limits: SandboxLimits, cgroups: CgroupTree | None, *, nproc_rlimit: bool) -> None:
        self._limits = limits
        self._cgroups = cgroups
        self._nproc_rlimit = nproc_rlimit
        self._running: set[_Running] = set()
        self._kill_alls = 0
        """Counts ``kill_all`` calls, so a command still starting when one came is killed as soon as it has
        a pid (its processes may already run before the start-up await returns)."""

    async def run(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float, launch: Launch | None = None
    ) -> CommandResult:
        launch = launch or Launch()
        started = time.monotonic()
        output = OutputBuffer(self._limits.max_output_bytes)
        kill_alls_before = self._kill_alls
        cgroup = self._create_cgroup()
        try:
            transport, protocol = await asyncio.get_running_loop().subprocess_exec(
                lambda: _CommandProtocol(output),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                pass_fds=launch.pass_fds,
                preexec_fn=self._child_setup(cgroup, launch.child_setup),
            )
        except BaseException as exc:
            if cgroup is not None:
                await cgroup.remove()
            if isinstance(exc, OSError | subprocess.SubprocessError):
                raise SandboxError(f"could not start {argv[0]}: {exc}") from exc
            raise
        finally:
            if launch.started is not None:
                launch.started()
        running = _Running(transport, cgroup)
        self._running.add(running)
        if self._kill_alls != kill_alls_before:
            running.cancelled = True
            running.kill()
        timed_out = False
        oversize: int | None = None
        try:
            if launch.attach is not None and not running.cancelled:
                try:
                    await launch.attach()
                except SandboxError:
                    if not running.cancelled:
                        raise
            timed_out, oversize = await self._wait(protocol, timeout, launch.workspace)
        finally:
            running.kill()
            out_of_memory = cgroup is not None and cgroup.out_of_memory()
            await self._finish(running, protocol)
        killed = timed_out or running.cancelled or oversize is not None
        error = None
        if oversize is not None:
            error = self._oversize_error(oversize, stopped=True)
        elif launch.workspace is not None and not killed:
            used = await asyncio.to_thread(disk_usage, launch.workspace)
            if used > self._limits.workspace_max_bytes:
                error = self._oversize_error(used, stopped=False)
        if error is None and out_of_memory:
            error = (
                f"a process of the command was killed for using more than its memory limit of "
                f"{format_bytes(self._limits.cgroup_memory_bytes)} (processes, page cache and /tmp together)"
            )
        return CommandResult(
            exit_code=None if killed else _shell_status(transport.get_returncode()),
            output=output.text(),
            timed_out=timed_out,
            cancelled=running.cancelled,
            truncated=output.truncated,
            duration_s=time.monotonic() - started,
            error=error,
        )

    async def _wait(
        self, protocol: _CommandProtocol, timeout: float, workspace: Path | None
    ) -> tuple[bool, int | None]:
        """Wait for the command's exit; ``(timed out, workspace bytes)`` where the bytes are set when the
        workspace grew over its cap while the command ran."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_check = loop.time() + _USAGE_INTERVAL_S
        while not protocol.exited.done():
            now = loop.time()
            if now >= deadline:
                return True, None
            until = deadline if workspace is None else min(deadline, next_check)
            await asyncio.wait({protocol.exited}, timeout=until - now)
            if workspace is not None and not protocol.exited.done() and loop.time() >= next_check:
                measuring = time.monotonic()
                used = await asyncio.to_thread(disk_usage, workspace)
                if used > self._limits.workspace_max_bytes:
                    return False, used
                cost = time.monotonic() - measuring
                next_check = loop.time() + max(_USAGE_INTERVAL_S, cost * _USAGE_COST_FACTOR)
        return False, None

    def _oversize_error(self, used: int, *, stopped: bool) -> str:
        size, limit = format_bytes(used), format_bytes(self._limits.workspace_max_bytes)
        advice = "delete what is not needed (build outputs, caches, downloads, large generated files)"
        if stopped:
            return f"the command was stopped: the workspace grew to {size}, over its limit of {limit}; {advice}"
        return (
            f"the workspace now holds {size}, over its limit of {limit}: {advice}; "
            "a command that writes more will be stopped"
        )

    async def kill_all(self) -> None:
        self._kill_alls += 1
        running = list(self._running)
        for command in running:
            command.cancelled = True
            command.kill()
        if not running:
            return
        waiters = [asyncio.create_task(command.finished.wait()) for command in running]
        _, pending = await asyncio.wait(waiters, timeout=_KILL_WAIT_S)
        for waiter in pending:
            waiter.cancel()

    def _create_cgroup(self) -> CommandCgroup | None:
        if self._cgroups is None:
            return None
        try:
            return self._cgroups.create(
                self._limits.max_processes, memory_bytes=self._limits.cgroup_memory_bytes, cpus=self._limits.cpus
            )
        except OSError as exc:
            raise SandboxError(f"could not create the command's cgroup: {exc}") from exc

    def _child_setup(self, cgroup: CommandCgroup | None, then: Callable[[], None] | None) -> Callable[[], None]:
        limits = [
            (resource.RLIMIT_AS, self._limits.memory_bytes),
            (resource.RLIMIT_FSIZE, self._limits.max_file_bytes),
            (resource.RLIMIT_CORE, 0),
        ]
        if self._nproc_rlimit:
            limits.append((resource.RLIMIT_NPROC, self._limits.max_processes))

        def setup() -> None:
            if cgroup is not None:
                cgroup.join()
            for kind, value in limits:
                hard = resource.getrlimit(kind)[1]
                capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(kind, (capped, capped))
            if then is not None:
                then()

        return setup

    async def _finish(self, running: _Running, protocol: _CommandProtocol) -> None:
        """Reap the killed group, collect the last output and drop the cgroup."""
        try:
            await asyncio.shield(protocol.exited)
            if running.cgroup is not None:
                await running.cgroup.remove()
            await asyncio.wait({protocol.closed}, timeout=_DRAIN_S)
        finally:
            running.transport.close()
            self._running.discard(running)
            running.finished.set()


def _shell_status(returncode: int | None) -> int | None:
    """Exit status as a shell reports it: a death by signal N becomes 128 + N."""
    if returncode is not None and returncode < 0:
        return 128 - returncode
    return returncode
