"""Server side of a handoff: rebuild the user's work tree in the session's workspace before the agent starts.

The runner clones the manifest's remote (or makes an empty directory when there is none), downloads the prompt's
attachments, then calls `apply_handoff`. Only the stdlib and git run here, with hooks disabled: nothing that came
with the repository or the user's upload is executed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from codeyard.handoff.git import GitError, git, git_ok, git_text
from codeyard.handoff.manifest import FENCE, Manifest

_BLOCK = re.compile(rf"^```{FENCE}[ \t]*\r?\n(.*?)\r?\n```[ \t]*$", re.MULTILINE | re.DOTALL)


class HandoffApplyError(Exception):
    """The handed-off state could not be rebuilt; the message says why in plain words."""


def parse_manifest(prompt: str) -> Manifest | None:
    """The manifest in the prompt's last `codeyard-handoff` block, None when there is no such block."""
    blocks = _BLOCK.findall(prompt)
    if not blocks:
        return None
    try:
        return Manifest.from_json(blocks[-1])
    except ValueError as exc:
        raise HandoffApplyError(f"the handoff manifest is unusable: {exc}") from exc


def apply_handoff(repo_dir: Path, manifest: Manifest, files: Mapping[str, Path]) -> list[str]:
    """Check out the handed-off commit in `repo_dir` and apply the uncommitted changes; say what was done.

    `repo_dir` is a clone of `manifest.remote_url`, or an empty directory when the bundle holds the whole history.
    `files` maps attachment names to their downloaded paths. The changes stay uncommitted and new files untracked,
    as they were on the user's machine.
    """
    try:
        return _apply(repo_dir, manifest, files)
    except GitError as exc:
        raise HandoffApplyError(f"git failed while rebuilding the handed-off work: {exc}") from exc


def _apply(repo_dir: Path, manifest: Manifest, files: Mapping[str, Path]) -> list[str]:
    branch = manifest.branch
    if branch is not None and (
        branch.startswith("-") or not git_ok(repo_dir, "check-ref-format", f"refs/heads/{branch}")
    ):
        raise HandoffApplyError(f"the branch name {branch!r} is not valid")
    done: list[str] = []
    if not (repo_dir / ".git").exists():
        if manifest.bundle is None:
            raise HandoffApplyError("the workspace has no repository and the handoff carries no bundle to build one")
        git(repo_dir, "init", "--quiet")
    if manifest.bundle is not None:
        target = manifest.head_sha
        if manifest.base_sha != manifest.head_sha:
            _ensure_commit(repo_dir, manifest.base_sha)
        done.append(_fetch_bundle(repo_dir, manifest, _attachment(files, manifest.bundle)))
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
    if path is None or not path.is_file():
        raise HandoffApplyError(f"the handoff attachment {name!r} was not downloaded into the workspace")
    return path


def _fetch_bundle(repo_dir: Path, manifest: Manifest, bundle: Path) -> str:
    verify = git(repo_dir, "bundle", "verify", "--quiet", str(bundle.resolve()), check=False)
    if verify.returncode != 0:
        reason = verify.stderr.decode(errors="replace").strip()
        raise HandoffApplyError(f"the handoff bundle cannot be used here: {reason}")
    git(repo_dir, "fetch", "--quiet", "--no-tags", str(bundle.resolve()), "HEAD")
    fetched = git_text(repo_dir, "rev-parse", "FETCH_HEAD^{commit}")
    if fetched != manifest.head_sha:
        raise HandoffApplyError(f"the bundle's HEAD is {fetched[:12]}, not the announced {manifest.head_sha[:12]}")
    if manifest.remote_url is None or manifest.base_sha == manifest.head_sha:
        count = git_text(repo_dir, "rev-list", "--count", manifest.head_sha)
        return f"Rebuilt the whole history ({count} commits) from the handoff bundle."
    count = git_text(repo_dir, "rev-list", "--count", manifest.head_sha, f"^{manifest.base_sha}")
    return f"Fetched {count} unpushed commits on top of {manifest.base_sha[:12]} from the handoff bundle."


def _ensure_commit(repo_dir: Path, sha: str) -> None:
    """Make sure the clone has `sha`, fetching it from origin once if a shallow or single-branch clone lacks it."""
    if git_ok(repo_dir, "cat-file", "-e", f"{sha}^{{commit}}"):
        return
    if "origin" in git_text(repo_dir, "remote").split():
        git(repo_dir, "fetch", "--quiet", "--no-tags", "origin", sha, check=False)
    if not git_ok(repo_dir, "cat-file", "-e", f"{sha}^{{commit}}"):
        raise HandoffApplyError(f"the base commit {sha[:12]} is not in the clone of the remote: was it pushed?")


def _checkout(repo_dir: Path, branch: str | None, target: str) -> str:
    if branch is None:
        git(repo_dir, "checkout", "--quiet", "--detach", target)
        return f"Checked out {target[:12]} as a detached HEAD, as on the user's machine."
    git(repo_dir, "checkout", "--quiet", "-B", branch, target)
    if git_ok(repo_dir, "rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}"):
        git(repo_dir, "branch", "--quiet", f"--set-upstream-to=origin/{branch}", branch)
    return f"Checked out branch `{branch}` at {target[:12]}."


def _patch_bytes(manifest: Manifest, files: Mapping[str, Path]) -> bytes:
    if manifest.patch is not None:
        return _attachment(files, manifest.patch).read_bytes()
    return (manifest.patch_inline or "").encode("utf-8")


def _apply_patch(repo_dir: Path, patch: bytes) -> str:
    """Apply to the working tree only: modified files stay unstaged and new files untracked, as the user had them."""
    stat = git(repo_dir, "apply", "--numstat", "-z", "-", stdin=patch, check=False)
    applied = git(repo_dir, "apply", "--binary", "--whitespace=nowarn", "-", stdin=patch, check=False)
    if applied.returncode != 0:
        reason = applied.stderr.decode(errors="replace").strip()
        raise HandoffApplyError(f"the uncommitted changes do not apply to the checked-out commit: {reason}")
    count = len([record for record in stat.stdout.split(b"\0") if b"\t" in record])
    return f"Applied the user's uncommitted changes to {count} files; they are left uncommitted, new files untracked."
