"""Where inside the workspace a command starts."""

import os
from pathlib import Path, PurePosixPath

from codeyard.sandbox.base import SandboxError


def resolve_workdir(workspace: Path, cwd: str | None) -> PurePosixPath:
    """``cwd`` as a normalised path relative to the workspace.

    Absolute paths, ``..`` escapes and symlinks leading out of the workspace are refused, so a command's
    start directory is always one the session owns; the directory must exist.
    """
    relative = PurePosixPath(os.path.normpath(cwd or "."))
    if relative.is_absolute() or relative.parts[:1] == ("..",):
        raise SandboxError(f"working directory {cwd!r} is outside the workspace")
    host = workspace / relative
    if not host.resolve().is_relative_to(workspace.resolve()):
        raise SandboxError(f"working directory {cwd!r} leads outside the workspace")
    if not host.is_dir():
        raise SandboxError(f"working directory {cwd!r} does not exist in the workspace")
    return relative
