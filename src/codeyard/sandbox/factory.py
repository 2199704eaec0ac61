"""Choosing a backend for a session's sandbox."""

import functools
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import structlog

from codeyard.sandbox.base import Sandbox, SandboxError, SandboxLimits
from codeyard.sandbox.bwrap import BwrapSandbox, bwrap_problem
from codeyard.sandbox.cgroup import CgroupTree
from codeyard.sandbox.local import LocalSandbox

_log = structlog.get_logger(__name__)
_warned: set[str] = set()


def create_sandbox(
    workspace: Path,
    *,
    network: bool = False,
    backend: Literal["auto", "bwrap", "local"] = "auto",
    limits: SandboxLimits | None = None,
    hidden_paths: Sequence[Path] = (),
) -> Sandbox:
    """A sandbox around ``workspace`` (created if missing).

    ``auto`` uses bubblewrap when it can start here and otherwise falls back to a plain subprocess with a
    warning; ``bwrap`` raises ``SandboxError`` instead of falling back. ``hidden_paths`` (the server's data
    dir, key files) are covered inside bubblewrap when they would otherwise be visible.
    """
    limits = limits or SandboxLimits()
    workspace.mkdir(parents=True, exist_ok=True)
    workspace = workspace.resolve()
    cgroups = _cgroup_tree()
    bwrap = shutil.which("bwrap")
    if backend != "local":
        problem = bwrap_problem()
        if problem is None and bwrap is not None:
            return BwrapSandbox(
                workspace, bwrap=bwrap, network=network, limits=limits, hidden_paths=hidden_paths, cgroups=cgroups
            )
        if backend == "bwrap":
            raise SandboxError(f"bubblewrap cannot start a sandbox: {problem}")
        _warn_once("bubblewrap unavailable: commands run without filesystem/network isolation", reason=problem)
    else:
        _warn_once("local sandbox selected: commands run without filesystem/network isolation", reason="configured")
    return LocalSandbox(workspace, limits=limits, cgroups=cgroups)


def _warn_once(message: str, *, reason: str | None) -> None:
    if message in _warned:
        return
    _warned.add(message)
    _log.warning(message, reason=reason, not_enforced="hidden paths stay visible; network is not restricted")


@functools.cache
def _cgroup_tree() -> CgroupTree | None:
    tree = CgroupTree.find()
    if tree is None and os.geteuid() == 0:
        _log.warning(
            "process limit not enforced: running as root without a writable pids cgroup",
            reason="RLIMIT_NPROC does not bind uid 0",
        )
    return tree
