"""The fallback backend: a plain subprocess in the workspace, for hosts where bubblewrap cannot start.

It keeps the clean environment, the rlimits, the cgroup process limit when there is one, and the
process-group kill, but it cannot hide any file or restrict the network: the factory logs that.
"""

from collections.abc import Mapping
from pathlib import Path

from codeyard.sandbox.base import CommandResult, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree
from codeyard.sandbox.environment import command_environment
from codeyard.sandbox.process import Launch, ProcessGroupRunner
from codeyard.sandbox.workdir import resolve_workdir


class LocalSandbox:
    """Commands of one session, run directly on the host with the workspace as cwd and HOME."""

    backend = "local"

    def __init__(self, workspace: Path, *, limits: SandboxLimits, cgroups: CgroupTree | None) -> None:
        self.workspace = workspace
        # Without a cgroup, RLIMIT_NPROC is the only process limit left; it counts every process of the
        # server's uid (and binds nothing for root), which is the best a plain subprocess can do.
        self._runner = ProcessGroupRunner(limits, cgroups, nproc_rlimit=cgroups is None)

    async def run(
        self, command: str, *, timeout: float, env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> CommandResult:
        workdir = self.workspace / resolve_workdir(self.workspace, cwd)
        environment = command_environment(str(self.workspace), env)
        launch = Launch(workspace=self.workspace)
        argv = ["/bin/bash", "-c", command]
        return await self._runner.run(argv, env=environment, cwd=workdir, timeout=timeout, launch=launch)

    async def kill_all(self) -> None:
        await self._runner.kill_all()
