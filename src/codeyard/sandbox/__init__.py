"""Where the agent's shell commands run: bubblewrap when it works, else a plain subprocess with limits.

Imports only ``codeyard.errors``, the standard library and structlog.
"""

from codeyard.sandbox.base import CommandResult, Sandbox, SandboxError, SandboxLimits
from codeyard.sandbox.bwrap import SANDBOX_WORKSPACE, bwrap_available
from codeyard.sandbox.factory import create_sandbox
from codeyard.sandbox.ownership import Identity, demoter, resolve_identity

__all__ = [
    "SANDBOX_WORKSPACE",
    "CommandResult",
    "Identity",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "bwrap_available",
    "create_sandbox",
    "demoter",
    "resolve_identity",
]
