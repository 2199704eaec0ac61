"""One way to run git for the handoff, on both sides.

Every call disables hooks and optional locks, so collecting never rewrites the user's index and applying on the
server never runs code that came with the repository.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

_SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.quotePath=false", "-c", "color.ui=false")


class GitError(Exception):
    """A git command failed; the message carries the command and git's own words."""


def minimal_env() -> dict[str, str]:
    """The server side's environment for git: no credentials, agent sockets, proxies or configuration of the
    server's own user, only what git needs to run."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_SSH_COMMAND": "false",
        "GIT_ALLOW_PROTOCOL": "file:https",
        "GIT_AUTHOR_NAME": "codeyard",
        "GIT_AUTHOR_EMAIL": "codeyard@localhost",
        "GIT_COMMITTER_NAME": "codeyard",
        "GIT_COMMITTER_EMAIL": "codeyard@localhost",
    }


def git(
    repo: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = True,
    clean: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git -C repo args...` and return the finished process (stdout and stderr as bytes).

    `clean` (the server side) starts from `minimal_env()` instead of the caller's environment.
    """
    base = minimal_env() if clean else dict(os.environ)
    full_env = {**base, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    if env:
        full_env.update(env)
    argv: Sequence[str] = ["git", "-C", str(repo), *_SAFE_CONFIG, *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, env=full_env, check=False)
    if check and done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise GitError(f"git {' '.join(args)}: {message}")
    return done


def git_text(repo: Path, *args: str, env: Mapping[str, str] | None = None, clean: bool = False) -> str:
    """Run git and return its stdout as text without the trailing newline."""
    return git(repo, *args, env=env, clean=clean).stdout.decode(errors="surrogateescape").rstrip("\n")


def git_ok(repo: Path, *args: str, clean: bool = False) -> bool:
    """Whether a git command succeeds (for questions such as "does this ref exist?")."""
    return git(repo, *args, check=False, clean=clean).returncode == 0
