"""Server side of a handoff: rebuild the user's work tree in the session's workspace before the agent starts.

The runner clones the manifest's remote (or makes an empty directory when there is none), downloads the prompt's
attachments, then calls `apply_handoff`. Only the stdlib and git run here, with hooks disabled: nothing that came
with the repository or the user's upload is executed.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

from codeyard.handoff.git import GitError, git, git_ok, git_text
from codeyard.handoff.manifest import FENCE, Manifest

_OPENING = f"```{FENCE}"


class HandoffApplyError(Exception):
    """The handed-off state could not be rebuilt; the message says why in plain words."""


def _git(repo: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """git on the server: hooks off and a minimal environment (no credentials of the server's own user)."""
    return git(repo, *args, stdin=stdin, check=check, clean=True)


def _git_text(repo: Path, *args: str) -> str:
    return git_text(repo, *args, clean=True)


def _git_ok(repo: Path, *args: str) -> bool:
    return git_ok(repo, *args, clean=True)


def parse_manifest(prompt: str) -> Manifest | None:
    """The manifest in the prompt's last `codeyard-handoff` block, None when there is no such block."""
    blocks = _blocks(prompt)
    if not blocks:
        return None
    try:
        return Manifest.from_json(blocks[-1])
    except ValueError as exc:
        raise HandoffApplyError(f"the handoff manifest is unusable: {exc}") from exc


def _blocks(prompt: str) -> list[str]:
    """The contents of the prompt's `codeyard-handoff` fenced blocks, read line by line (linear in the prompt:
    a pattern over the whole text was quadratic on a prompt full of opening fences)."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in prompt.split("\n"):
        bare = line.removesuffix("\r")
        if current is None:
            if bare.startswith(_OPENING) and not bare[len(_OPENING) :].strip(" \t"):
                current = []
        elif bare.rstrip(" \t") == "```":
            blocks.append("\n".join(current).removesuffix("\r"))
            current = None
        else:
            current.append(line)
    return blocks


def apply_handoff(
    repo_dir: Path, manifest: Manifest, files: Mapping[str, Path], *, max_bundle_bytes: int | None = None
) -> list[str]:
    """Check out the handed-off commit in `repo_dir` and apply the uncommitted changes; say what was done.

    `repo_dir` is a clone of `manifest.remote_url`, or an empty directory when the bundle holds the whole history.
    `files` maps attachment names to their downloaded paths. The changes stay uncommitted and new files untracked,
    as they were on the user's machine. Nothing in the workspace is followed: a symlinked repository directory,
    `.git` or attachment is refused, and git runs with a minimal environment.
    """
    try:
        return _apply(repo_dir, manifest, files, max_bundle_bytes)
    except GitError as exc:
        raise HandoffApplyError(f"git failed while rebuilding the handed-off work: {exc}") from exc


def _check_plain(path: Path, *, directory: bool) -> None:
    """`path` and its parent are no symlinks, and `path` is a directory or a regular file with one link."""
    for place in (path.parent, path):
        if os.path.islink(place):
            raise HandoffApplyError(f"{place.name} in the workspace is a symbolic link; the server does not follow it")
    info = os.lstat(path)
    if directory and not stat.S_ISDIR(info.st_mode):
        raise HandoffApplyError(f"{path.name} in the workspace is not a directory")
    if not directory and (not stat.S_ISREG(info.st_mode) or info.st_nlink != 1):
        raise HandoffApplyError(f"{path.name} in the workspace is not a plain file")


def _apply(repo_dir: Path, manifest: Manifest, files: Mapping[str, Path], max_bundle_bytes: int | None) -> list[str]:
    branch = manifest.branch
    if branch is not None and (
        branch.startswith("-") or not _git_ok(repo_dir, "check-ref-format", f"refs/heads/{branch}")
    ):
        raise HandoffApplyError(f"the branch name {branch!r} is not valid")
    _check_plain(repo_dir, directory=True)
    if os.path.lexists(repo_dir / ".git"):
        _check_plain(repo_dir / ".git", directory=True)
    done: list[str] = []
    if not (repo_dir / ".git").exists():
        if manifest.bundle is None:
            raise HandoffApplyError("the workspace has no repository and the handoff carries no bundle to build one")
        _git(repo_dir, "init", "--quiet")
    if manifest.bundle is not None:
        target = manifest.head_sha
        if manifest.base_sha != manifest.head_sha:
            _ensure_commit(repo_dir, manifest.base_sha)
        bundle = _attachment(files, manifest.bundle)
        if max_bundle_bytes is not None and bundle.stat().st_size > max_bundle_bytes:
            raise HandoffApplyError(
                f"the handoff bundle is larger than this server's limit of {max_bundle_bytes} bytes"
            )
        done.append(_fetch_bundle(repo_dir, manifest, bundle))
    else:
        target = manifest.base_sha
        _ensure_commit(repo_dir, target)
    done.append(_checkout(repo_dir, manifest.branch, target))
    patch = _patch_bytes(manifest, files)
    if patch:
        done.append(_apply_patch(repo_dir, patch))
    else:
        done.append("There were no uncommitted changes to apply.")
    return done


def _attachment(files: Mapping[str, Path], name: str) -> Path:
    path = files.get(name)
    if path is None or not os.path.lexists(path):
        raise HandoffApplyError(f"the handoff attachment {name!r} was not downloaded into the workspace")
    _check_plain(path, directory=False)
    return path


def _fetch_bundle(repo_dir: Path, manifest: Manifest, bundle: Path) -> str:
    verify = _git(repo_dir, "bundle", "verify", "--quiet", str(bundle.resolve()), check=False)
    if verify.returncode != 0:
        reason = verify.stderr.decode(errors="replace").strip()
        raise HandoffApplyError(f"the handoff bundle cannot be used here: {reason}")
    _git(repo_dir, "fetch", "--quiet", "--no-tags", str(bundle.resolve()), "HEAD")
    fetched = _git_text(repo_dir, "rev-parse", "FETCH_HEAD^{commit}")
    if fetched != manifest.head_sha:
        raise HandoffApplyError(f"the bundle's HEAD is {fetched[:12]}, not the announced {manifest.head_sha[:12]}")
    if manifest.remote_url is None or manifest.base_sha == manifest.head_sha:
        count = _git_text(repo_dir, "rev-list", "--count", manifest.head_sha)
        return f"Rebuilt the whole history ({count} commits) from the handoff bundle."
    count = _git_text(repo_dir, "rev-list", "--count", manifest.head_sha, f"^{manifest.base_sha}")
    return f"Fetched {count} unpushed commits on top of {manifest.base_sha[:12]} from the handoff bundle."


def _ensure_commit(repo_dir: Path, sha: str) -> None:
    """Make sure the clone has `sha`, fetching it from origin once if a shallow or single-branch clone lacks it."""
    if _git_ok(repo_dir, "cat-file", "-e", f"{sha}^{{commit}}"):
        return
    if "origin" in _git_text(repo_dir, "remote").split():
        _git(repo_dir, "fetch", "--quiet", "--no-tags", "origin", sha, check=False)
    if not _git_ok(repo_dir, "cat-file", "-e", f"{sha}^{{commit}}"):
        raise HandoffApplyError(f"the base commit {sha[:12]} is not in the clone of the remote: was it pushed?")


def _checkout(repo_dir: Path, branch: str | None, target: str) -> str:
    if branch is None:
        _git(repo_dir, "checkout", "--quiet", "--detach", target)
        return f"Checked out {target[:12]} as a detached HEAD, as on the user's machine."
    _git(repo_dir, "checkout", "--quiet", "-B", branch, target)
    if _git_ok(repo_dir, "rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}"):
        _git(repo_dir, "branch", "--quiet", f"--set-upstream-to=origin/{branch}", branch)
    return f"Checked out branch `{branch}` at {target[:12]}."


def _patch_bytes(manifest: Manifest, files: Mapping[str, Path]) -> bytes:
    if manifest.patch is not None:
        path = _attachment(files, manifest.patch)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise HandoffApplyError(f"the handoff attachment {manifest.patch!r} is not a plain file")
            os.set_blocking(fd, True)
            return handle.read()
    return (manifest.patch_inline or "").encode("utf-8")


def _apply_patch(repo_dir: Path, patch: bytes) -> str:
    """Apply to the working tree only: modified files stay unstaged and new files untracked, as the user had them."""
    numstat = _git(repo_dir, "apply", "--numstat", "-z", "-", stdin=patch, check=False)
    applied = _git(repo_dir, "apply", "--binary", "--whitespace=nowarn", "-", stdin=patch, check=False)
    if applied.returncode != 0:
        reason = applied.stderr.decode(errors="replace").strip()
        raise HandoffApplyError(f"the uncommitted changes do not apply to the checked-out commit: {reason}")
    count = len([record for record in numstat.stdout.split(b"\0") if b"\t" in record])
    return f"Applied the user's uncommitted changes to {count} files; they are left uncommitted, new files untracked."
