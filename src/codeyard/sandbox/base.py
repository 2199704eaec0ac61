"""The seam between the agent and the place its shell commands run.

The agent only ever sees ``Sandbox``: one stateless call per command that returns the exit code and the
output (mini-swe-agent's exec contract), plus ``kill_all`` so that stopping a session stops its commands.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from codeyard.errors import CodeyardError

_GIB = 1024**3


class SandboxError(CodeyardError):
    """The sandbox could not run the command."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource ceilings applied to every command, so one runaway command cannot take the host down."""

    memory_bytes: int = 4 * _GIB
    """Address space of each process (RLIMIT_AS)."""
    max_processes: int = 512
    """Processes and threads of one command, the sandbox's own helpers included."""
    max_file_bytes: int = _GIB
    """Largest file a command may write (RLIMIT_FSIZE)."""
    max_output_bytes: int = 64 * 1024
    """Bytes of combined stdout and stderr kept: the head and the tail, with a marker between."""
    cgroup_memory_bytes: int = 4 * _GIB
    """Memory of all of a command's processes together, page cache and ``/tmp`` included (memory
    cgroup, where the host gives one). A session runs one command at a time, so this is its limit."""
    cpus: float = 2.0
    """CPU time of a command, in cores (cpu cgroup quota, where the host gives one)."""
    tmp_bytes: int = 512 * 1024**2
    """Size of the sandbox's private ``/tmp`` (bubblewrap)."""
    workspace_max_bytes: int = 10 * _GIB
    """Disk the workspace may hold; a command that grows it beyond is stopped and told so."""

    def __post_init__(self) -> None:
        for name in (
            "memory_bytes",
            "max_processes",
            "max_file_bytes",
            "max_output_bytes",
            "cgroup_memory_bytes",
            "cpus",
            "tmp_bytes",
            "workspace_max_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive")


@dataclass(frozen=True)
class CommandResult:
    """What one command did. ``exit_code`` is None when the sandbox killed it (timeout or ``kill_all``);
    a command that died of a signal on its own reports ``128 + signal`` as a shell would."""

    exit_code: int | None
    output: str
    timed_out: bool
    cancelled: bool
    truncated: bool
    duration_s: float
    error: str | None = None
    """A limit the command ran into (memory, workspace size), in words the model can act on."""


class Sandbox(Protocol):
    """Runs shell commands in one session's workspace."""

    backend: str
    """``"bwrap"`` or ``"local"``."""
    workspace: Path
    """Host path of the writable workspace."""

    async def run(
        self, command: str, *, timeout: float, env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> CommandResult:
        """Run ``command`` with ``/bin/bash -c``; ``cwd`` is relative to the workspace, ``env`` is added to
        a clean environment. Cancelling the awaiting task kills the command and re-raises."""
        ...

    async def kill_all(self) -> None:
        """Kill every running command of this sandbox now; their ``run`` calls return ``cancelled``."""
        ...
