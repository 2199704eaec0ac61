"""What local work a handoff carries: where the repo lives, which commit it stands on, and what is not pushed.

Collecting reads the repository and never changes it: the patch is built in a temporary copy of the index, with a
temporary object directory for what git writes while doing so, so nothing under `.git`, the user's staging area or
working tree changes. Whatever cannot travel in the patch (nested repositories, uncommitted work inside submodules)
is listed as not sent, never dropped silently.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from codeyard.handoff.git import git, git_ok, git_text

_DIFF_OPTIONS = (
    "-U3",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "--submodule=short",
    # Uncommitted work inside a submodule cannot travel in this patch (`-dirty` does not apply): it is listed instead.
    "--ignore-submodules=dirty",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "-M",
)
_KINDS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type changed"}
_DIFF_CONFIG = ("-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.suppressBlankEmpty=false")
"""User settings that change the patch text itself; the command-line options above cover the others."""
_NO_SPLIT = ("-c", "core.splitIndex=false")
"""For commands writing the temporary index: a split index would put a `sharedindex.*` file into `.git`."""
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>.+)$")


class CollectError(Exception):
    """The directory cannot be handed off (not a git work tree, no commit yet)."""


@dataclass(frozen=True)
class Commit:
    """One commit that the remote does not have."""

    sha: str
    subject: str


@dataclass(frozen=True)
class FileChange:
    """One file that differs between HEAD and the working tree (untracked files count as added)."""

    kind: str
    path: str
    old_path: str | None
    binary: bool

    def describe(self) -> str:
        """`renamed old -> new`, `added path`, ... as shown in summaries (names that are not UTF-8 escaped)."""
        path = display_name(self.path)
        where = f"{display_name(self.old_path)} -> {path}" if self.old_path else path
        return f"{self.kind} {where}" + (" (binary)" if self.binary else "")


@dataclass(frozen=True)
class Collected:
    """Everything a handoff needs to rebuild the local state elsewhere."""

    repo_dir: Path
    remote_name: str | None
    remote_url: str | None
    host: str | None
    branch: str | None
    head_sha: str
    base_sha: str
    base_on_remote: bool
    upstream: str | None
    commits: tuple[Commit, ...]
    bundle: bytes | None
    patch: bytes
    files: tuple[FileChange, ...]
    not_sent: tuple[str, ...] = ()
    """What is in the work tree but not in the handoff, described for the user and the agent."""

    @property
    def has_binary_changes(self) -> bool:
        """Whether the patch carries binary content (it is then always attached, never inlined)."""
        return any(change.binary for change in self.files)


def collect(repo_dir: Path) -> Collected:
    """Read the state of the git work tree containing `repo_dir`."""
    done = git(repo_dir, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise CollectError(f"{repo_dir} is not inside a git work tree")
    top = Path(done.stdout.decode(errors="surrogateescape").strip())
    if not git_ok(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"):
        raise CollectError("the repository has no commit yet: commit something first")
    head = git_text(top, "rev-parse", "HEAD^{commit}")
    branch = _utf8(_branch(top), "branch name")
    remote_name, upstream = _remote_and_upstream(top, branch)
    _utf8(remote_name, "remote name")
    _utf8(upstream, "upstream branch name")
    remote_url, host = (None, None)
    if remote_name:
        remote_url, host = split_remote_url(git_text(top, "remote", "get-url", remote_name))
        _utf8(remote_url, "remote URL")
    base = _base(top, remote_name, branch, upstream)
    commit_range = [head] if base is None else [head, f"^{base}"]
    patch, files, not_sent = _working_tree_changes(top)
    return Collected(
        repo_dir=top,
        remote_name=remote_name,
        remote_url=remote_url,
        host=host,
        branch=branch,
        head_sha=head,
        base_sha=base or head,
        base_on_remote=base is not None,
        upstream=upstream,
        commits=_commits(top, commit_range),
        bundle=None if base == head else _bundle(top, commit_range),
        patch=patch,
        files=files,
        not_sent=not_sent,
    )


def display_name(name: str) -> str:
    """A file name read from git (undecodable bytes kept as surrogates) as printable text: `\\xff` for a bad byte."""
    return name.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _utf8(value: str | None, what: str) -> str | None:
    """`value` when it is valid UTF-8 text; the prompt and the manifest cannot carry anything else."""
    if value is not None and value != display_name(value):
        raise CollectError(f"the {what} {display_name(value)!r} is not valid UTF-8: rename it to hand it off")
    return value


def split_remote_url(url: str) -> tuple[str, str | None]:
    """The remote URL without any password or token, and its host (None for a local path)."""
    if "://" in url:
        parts = urlsplit(url)
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        keep_user = parts.scheme in ("ssh", "git+ssh", "ssh+git") and user
        netloc = f"{user}@{hostport}" if keep_user else hostport
        return parts._replace(netloc=netloc).geturl(), parts.hostname
    scp = _SCP_LIKE.match(url)
    if scp and not url.startswith(("/", ".")):
        return url, scp["host"]
    return url, None


def _branch(repo: Path) -> str | None:
    done = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if done.returncode != 0:
        return None
    return done.stdout.decode(errors="surrogateescape").strip() or None


def _remote_and_upstream(repo: Path, branch: str | None) -> tuple[str | None, str | None]:
    """The remote to hand off against, and the remote-tracking branch HEAD's branch follows (if any)."""
    remotes = git_text(repo, "remote").split()
    if branch:
        upstream_ref = git(repo, "rev-parse", "--symbolic-full-name", f"{branch}@{{upstream}}", check=False)
        full = upstream_ref.stdout.decode(errors="surrogateescape").strip()
        if upstream_ref.returncode == 0 and full.startswith("refs/remotes/"):
            remote = git_text(repo, "config", f"branch.{branch}.remote")
            if remote in remotes:
                return remote, full.removeprefix("refs/remotes/")
    if "origin" in remotes:
        return "origin", None
    return (remotes[0] if remotes else None), None


def _base(repo: Path, remote: str | None, branch: str | None, upstream: str | None) -> str | None:
    """The newest commit of HEAD's history the remote already has, or None when it has none of it.

    Tried in order: the upstream, the remote branch of the same name, then any branch of the remote.
    """
    if remote is None:
        return None
    candidates: list[list[str]] = []
    if upstream:
        candidates.append([f"refs/remotes/{upstream}"])
    if branch and git_ok(repo, "rev-parse", "--verify", "--quiet", f"refs/remotes/{remote}/{branch}"):
        candidates.append([f"refs/remotes/{remote}/{branch}"])
    remote_refs = git_text(repo, "for-each-ref", "--format=%(refname)", f"refs/remotes/{remote}/").split()
    if remote_refs:
        candidates.append(remote_refs)
    for refs in candidates:
        done = git(repo, "merge-base", "HEAD", *refs, check=False)
        if done.returncode == 0:
            return done.stdout.decode().strip()
    return None


def _commits(repo: Path, commit_range: list[str]) -> tuple[Commit, ...]:
    out = git(repo, "log", "-z", "--reverse", "--format=%H %s", *commit_range, "--").stdout
    entries = out.decode(errors="replace").split("\0")
    return tuple(Commit(*entry.split(" ", 1)) for entry in entries if entry)


def _bundle(repo: Path, commit_range: list[str]) -> bytes:
    """A git bundle of the commits in `commit_range`, whose ref `HEAD` is the user's HEAD."""
    with tempfile.TemporaryDirectory(prefix="codeyard-handoff-") as tmp:
        path = Path(tmp) / "handoff.bundle"
        git(repo, "bundle", "create", "--quiet", str(path), "HEAD", *commit_range[1:])
        return path.read_bytes()


def _working_tree_changes(repo: Path) -> tuple[bytes, tuple[FileChange, ...], tuple[str, ...]]:
    """A binary-safe patch from HEAD to the working tree (untracked non-ignored files included), and what it leaves out.

    git runs against a private copy of the repository's own git directory (see `_private_git_dir`), so the objects
    and index it writes while adding untracked files as intent-to-add never reach the user's `.git`.
    """
    with tempfile.TemporaryDirectory(prefix="codeyard-handoff-") as tmp:
        env = _private_git_dir(repo, Path(tmp))
        untracked = git(repo, "ls-files", "-z", "--others", "--exclude-standard", env=env).stdout.split(b"\0")
        # A trailing slash marks a nested repository; adding it would record a gitlink, not its files.
        nested = [name.decode(errors="surrogateescape") for name in untracked if name.endswith(b"/")]
        files = b"\0".join(name for name in untracked if name and not name.endswith(b"/"))
        if files:
            add = ("add", "--intent-to-add", "--pathspec-from-file=-", "--pathspec-file-nul")
            git(repo, *_NO_SPLIT, *add, env=env, stdin=files)
        patch = git(repo, *_DIFF_CONFIG, "diff", "--binary", *_DIFF_OPTIONS, "HEAD", "--", env=env).stdout
        name_status = git(repo, *_DIFF_CONFIG, "diff", "--name-status", "-z", *_DIFF_OPTIONS, "HEAD", "--", env=env)
        numstat = git(repo, *_DIFF_CONFIG, "diff", "--numstat", "-z", *_DIFF_OPTIONS, "HEAD", "--", env=env)
        dirty = _dirty_submodules(repo, env)
    not_sent = [
        f"nested repository {display_name(name)} (its own git repository: none of its files)" for name in nested
    ]
    not_sent += [f"uncommitted changes inside submodule {display_name(name)}" for name in dirty]
    return patch, _file_changes(name_status.stdout, numstat.stdout), tuple(not_sent)


def _private_git_dir(repo: Path, tmp: Path) -> dict[str, str]:
    """The environment that points git at a throw-away git directory standing for `repo`'s own.

    It holds copies of HEAD and the index (with any `sharedindex.*` of a split index: git refreshes the date of the
    one it reads, so the originals are not read at all) and borrows everything else from the common directory, the
    way a linked worktree does. New objects go to a temporary object directory, the real one staying readable as an
    alternate; `core.splitIndex=false` on the commands that write the index keeps it in one file.
    """
    own, common, objects = git_text(
        repo, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir", "--git-path", "objects"
    ).split("\n")
    private = tmp / "git"
    (private / "objects").mkdir(parents=True)
    (private / "commondir").write_text(common + "\n")
    # copy2 keeps the index's mtime, which git needs to notice files changed in the same second as it.
    for source in (
        Path(own) / "HEAD",
        Path(own) / "config.worktree",
        Path(own) / "index",
        *Path(own).glob("sharedindex.*"),
    ):
        if source.is_file():
            shutil.copy2(source, private / source.name)
    env = {
        "GIT_DIR": str(private),
        "GIT_WORK_TREE": str(repo),
        "GIT_OBJECT_DIRECTORY": str(private / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": objects,
        "GIT_LITERAL_PATHSPECS": "1",
    }
    if not (private / "index").is_file():
        git(repo, *_NO_SPLIT, "read-tree", "HEAD", env=env)
    return env


def _dirty_submodules(repo: Path, env: dict[str, str]) -> list[str]:
    """Submodules with modified or untracked files of their own (`S.M.`, `S..U` in `status --porcelain=v2`)."""
    status = git(repo, *_NO_SPLIT, "status", "--porcelain=v2", "-z", "--untracked-files=normal", env=env).stdout
    dirty: list[str] = []
    for record in status.split(b"\0"):
        # `1 XY sub mH mI mW hH hI path`; a rename (`2 ...`) has a score field before its path.
        fields = record.split(b" ", {b"1": 8, b"2": 9}.get(record[:1], 0))
        if len(fields) > 8 and fields[2].startswith(b"S") and fields[2][2:] != b"..":
            dirty.append(fields[-1].decode(errors="surrogateescape"))
    return dirty


def _file_changes(name_status: bytes, numstat: bytes) -> tuple[FileChange, ...]:
    """Join `--name-status -z` (kinds) with `--numstat -z` (binary or not), both listing files in the same order."""
    binary = [stat.startswith(b"-\t-\t") for stat in _numstat_records(numstat)]
    fields = name_status.decode(errors="surrogateescape").split("\0")
    changes: list[FileChange] = []
    i = 0
    while i < len(fields) and fields[i]:
        letter = fields[i][0]
        if letter in "RC":
            old, new, i = fields[i + 1], fields[i + 2], i + 3
        else:
            old, new, i = None, fields[i + 1], i + 2
        is_binary = binary[len(changes)] if len(changes) < len(binary) else False
        changes.append(FileChange(_KINDS.get(letter, "changed"), new, old, is_binary))
    return tuple(changes)


def _numstat_records(numstat: bytes) -> list[bytes]:
    """Split `--numstat -z`: a rename is `a\\td\\t\\0old\\0new\\0`, anything else `a\\td\\tpath\\0`."""
    fields = numstat.split(b"\0")
    records: list[bytes] = []
    i = 0
    while i < len(fields) and fields[i]:
        records.append(fields[i])
        i += 3 if fields[i].endswith(b"\t") else 1
    return records
