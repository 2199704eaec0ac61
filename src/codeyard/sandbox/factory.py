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
from codeyard.sandbox.egress import blocked_ranges, egress_problem
from codeyard.sandbox.local import LocalSandbox
from codeyard.sandbox.ownership import resolve_identity

_log = structlog.get_logger(__name__)
_warned: set[str] = set()
_LOCAL_GAPS = (
    "hidden paths stay visible; network is not restricted; commands of every session share one uid "
    "(the server's, or the sandbox uid when the server is root)"
)


def create_sandbox(
    workspace: Path,
    *,
    network: bool = False,
    backend: Literal["auto", "bwrap", "local"] = "auto",
    limits: SandboxLimits | None = None,
    hidden_paths: Sequence[Path] = (),
    uid: int | None = None,
    gid: int | None = None,
) -> Sandbox:
    """A sandbox around ``workspace`` (created if missing).

    ``auto`` uses bubblewrap when it can start here and otherwise falls back to a plain subprocess with a
    warning; ``bwrap`` raises ``SandboxError`` instead of falling back. ``hidden_paths`` (the server's data
    dir, key files) are covered inside bubblewrap when they would otherwise be visible. ``uid``/``gid``:
    whom commands run as when the server is root (default: see ``resolve_identity``).
    ``network`` opens the public internet only; where that cannot be filtered, commands get no network.
    The local backend runs commands as that same uid/gid when the server is root, never as root.
    """
    limits = limits or SandboxLimits()
    workspace.mkdir(parents=True, exist_ok=True)
    workspace = workspace.resolve()
    cgroups = _cgroup_tree()
    bwrap = shutil.which("bwrap")
    identity = resolve_identity(uid, gid) if os.geteuid() == 0 else None
    if backend != "local":
        problem = bwrap_problem(identity)
        if problem is None and bwrap is not None:
            blocked: list[str] = []
            if network:
                network_problem = egress_problem()
                if network_problem is None:
                    blocked = blocked_ranges()
                else:
                    network = False
                    _warn_once(
                        "network allowed but it cannot be filtered here: commands get no network",
                        reason=network_problem,
                        not_enforced=None,
                    )
            return BwrapSandbox(
                workspace,
                bwrap=bwrap,
                network=network,
                limits=limits,
                hidden_paths=hidden_paths,
                cgroups=cgroups,
                identity=identity,
                blocked=blocked,
            )
        if backend == "bwrap":
            raise SandboxError(f"bubblewrap cannot start a sandbox: {problem}")
        _warn_once("bubblewrap unavailable: commands run without filesystem/network isolation", reason=problem)
    else:
        _warn_once("local sandbox selected: commands run without filesystem/network isolation", reason="configured")
    return LocalSandbox(workspace, limits=limits, cgroups=cgroups, identity=identity, hidden_paths=hidden_paths)


def _warn_once(message: str, *, reason: str | None, not_enforced: str | None = _LOCAL_GAPS) -> None:
    if message in _warned:
        return
    _warned.add(message)
    _log.warning(message, reason=reason, not_enforced=not_enforced)


@functools.cache
def _cgroup_tree() -> CgroupTree | None:
    tree = CgroupTree.find()
    if tree is None and os.geteuid() == 0:
        _log.warning(
            "process limit not enforced: running as root without a writable pids cgroup",
            reason="RLIMIT_NPROC does not bind uid 0",
        )
    return tree
