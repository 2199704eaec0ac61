"""`codeyard sessions pull` and `sessions diff`: a session's work brought into the local clone (the inverse of
`codeyard handoff`). Git runs on the user's own repository here, as in the handoff."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from codeyard.cli._output import fail, note, print_json

if TYPE_CHECKING:
    from codeyard.sdk import Client
    from codeyard.sdk.types import RepoChanges


def _git(repo: Path, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", *args], input=stdin, capture_output=True, check=False
    )
    if check and done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise fail(f"git {args[0]}: {message}")
    return done


def _top(cwd: Path) -> Path:
    done = _git(cwd, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise fail("run this inside a clone of the session's repository")
    return Path(done.stdout.decode().strip())


def _choose(items: list[RepoChanges], repo: str | None, top: Path) -> RepoChanges:
    if not items:
        raise fail("the session cloned no repository, so there is nothing to pull")
    if repo is not None:
        for item in items:
            if repo in (item.repo, item.directory, str(item.index)):
                return item
        raise fail(f"the session has no repository {repo!r}: {', '.join(i.repo for i in items)}")
    if len(items) == 1:
        return items[0]
    origin = _git(top, "remote", "get-url", "origin", check=False).stdout.decode().strip().removesuffix(".git")
    matches = [i for i in items if origin and origin.endswith(i.repo.removesuffix(".git"))]
    if len(matches) == 1:
        return matches[0]
    raise fail(f"the session has several repositories; choose one with --repo: {', '.join(i.repo for i in items)}")


def _has_commit(top: Path, sha: str) -> bool:
    return _git(top, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def pull(client: Client, session_id: str, repo: str | None, apply_patch: bool, cwd: Path) -> None:
    top = _top(cwd)
    changes = client.sessions.changes(session_id)
    item = _choose(changes.items, repo, top)
    sid = client.sessions.get(session_id).session_id
    branch = f"codeyard/{sid}"
    if item.commits:
        if not _has_commit(top, item.base_sha):
            raise fail(f"this clone lacks the session's starting commit {item.base_sha[:12]}: run git fetch first")
        with tempfile.TemporaryDirectory(prefix="codeyard-pull-") as tmp:
            bundle = Path(tmp) / "changes.bundle"
            bundle.write_bytes(client.sessions.bundle(session_id, item.index))
            _git(top, "fetch", "--quiet", str(bundle), f"+refs/heads/codeyard:refs/heads/{branch}")
        note(f"branch {branch}: {len(item.commits)} commit(s) on {item.base_sha[:12]}")
        for commit in item.commits:
            note(f"  {commit.sha[:12]} {commit.subject}")
    else:
        note("the session made no commit in this repository")
    if not item.uncommitted:
        if apply_patch:
            note("there is no uncommitted work to apply")
        return
    if not apply_patch:
        note("the session also left uncommitted work: add --apply-patch to apply it to the work tree")
        return
    patch = client.sessions.patch(session_id, item.index)
    head = _git(top, "rev-parse", "HEAD").stdout.decode().strip()
    if item.commits and head != item.head_sha:
        _git(top, "switch", "--quiet", branch)
        note(f"switched to {branch}")
    _git(top, "apply", "--binary", "--whitespace=nowarn", "-", stdin=patch)
    note("applied the uncommitted work to the work tree")


def diff(client: Client, session_id: str, json_: bool, cwd: Path) -> None:
    changes = client.sessions.changes(session_id)
    if json_:
        print_json(changes.to_json_dict())
        return
    done = _git(cwd, "rev-parse", "--show-toplevel", check=False)
    top = Path(done.stdout.decode().strip()) if done.returncode == 0 else None
    for item in changes.items:
        stat = item.diffstat
        print(
            f"# {item.repo}: {len(item.commits)} commit(s), {stat.files_changed} file(s), "
            f"+{stat.insertions} -{stat.deletions}" + (", uncommitted work" if item.uncommitted else "")
        )
        for commit in item.commits:
            print(f"#   {commit.sha[:12]} {commit.subject}")
        if item.commits and top is not None and _has_commit(top, item.base_sha):
            with tempfile.TemporaryDirectory(prefix="codeyard-diff-") as tmp:
                bundle = Path(tmp) / "changes.bundle"
                bundle.write_bytes(client.sessions.bundle(session_id, item.index))
                _git(top, "bundle", "unbundle", str(bundle))  # objects only: no ref of the clone changes
            print(
                _git(top, "diff", "--no-ext-diff", item.base_sha, item.head_sha).stdout.decode(errors="replace"), end=""
            )
        elif item.commits:
            note(f"run this in a clone of {item.repo} to see the committed diff (or use `codeyard sessions pull`)")
        if item.uncommitted:
            print(client.sessions.patch(session_id, item.index).decode(errors="replace"), end="")
