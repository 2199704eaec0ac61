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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from codeyard.sandbox.base import CommandResult, SandboxError, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree, CommandCgroup
from codeyard.sandbox.output import OutputBuffer

_DRAIN_S = 1.0
"""How long to wait for the output pipe to close once the command's processes are dead (a process that
escaped the group may still hold it)."""
_KILL_WAIT_S = 2.0
"""How long ``kill_all`` waits for the killed commands to be reaped (DELETE must finish within 2 s)."""


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

    async def run(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float) -> CommandResult:
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
                preexec_fn=self._child_setup(cgroup),
            )
        except BaseException as exc:
            if cgroup is not None:
                await cgroup.remove()
            if isinstance(exc, OSError | subprocess.SubprocessError):
                raise SandboxError(f"could not start {argv[0]}: {exc}") from exc
            raise
        running = _Running(transport, cgroup)
        self._running.add(running)
        if self._kill_alls != kill_alls_before:
            running.cancelled = True
            running.kill()
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(protocol.exited), timeout)
        except TimeoutError:
            timed_out = True
        finally:
            running.kill()
            await self._finish(running, protocol)
        killed = timed_out or running.cancelled
        return CommandResult(
            exit_code=None if killed else _shell_status(transport.get_returncode()),
            output=output.text(),
            timed_out=timed_out,
            cancelled=running.cancelled,
            truncated=output.truncated,
            duration_s=time.monotonic() - started,
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
            return self._cgroups.create(self._limits.max_processes)
        except OSError as exc:
            raise SandboxError(f"could not create the command's cgroup: {exc}") from exc

    def _child_setup(self, cgroup: CommandCgroup | None) -> Callable[[], None]:
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
