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


def git(
    repo: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git -C repo args...` and return the finished process (stdout and stderr as bytes)."""
    full_env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    if env:
        full_env.update(env)
    argv: Sequence[str] = ["git", "-C", str(repo), *_SAFE_CONFIG, *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, env=full_env, check=False)
    if check and done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise GitError(f"git {' '.join(args)}: {message}")
    return done


def git_text(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run git and return its stdout as text without the trailing newline."""
    return git(repo, *args, env=env).stdout.decode(errors="surrogateescape").rstrip("\n")


def git_ok(repo: Path, *args: str) -> bool:
    """Whether a git command succeeds (for questions such as "does this ref exist?")."""
    return git(repo, *args, check=False).returncode == 0
