"""Find secrets in what a handoff would send, and redact them when the user asks.

Two scanners run over every added line: bc-detect-secrets (its full default plugin set) and a short list of
high-signal patterns that name the kind of token precisely and also catch what detect-secrets misses (URLs with a
password, Anthropic and OpenAI keys, the whole body of a private key, `.env`-style `DB_PASSWORD=...` assignments).
Binary content is scanned with the patterns only, because entropy rules fire on random bytes, except UTF-16 text
(binary to git), which is decoded and scanned as text. Names travel too (file and directory names, the branch, its
upstream, the remote URL), so the patterns run over them as well. A secret inside an unpushed commit, binary content
or a name cannot be redacted (the bundle carries history as is; a name cannot be rewritten in a patch), so `redact`
refuses those and says why.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codeyard.handoff.collect import Collected, display_name
from codeyard.handoff.git import GitError, git

CONTEXT_PATH = "--context"
COMMIT_MESSAGE_PATH = "commit message"
TASK_PATH = "TASK"
_MIN_REDACTED_PIECE = 4

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(regex))
    for kind, regex in (
        ("Private Key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
        ("AWS Access Key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
        ("AWS Secret Access Key", r"(?i)aws_?secret_?access_?key\W{0,4}(?P<secret>[A-Za-z0-9/+=]{40})(?![\w/+=])"),
        ("GitHub Token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("GitLab Token", r"\bgl(?:pat|dt|ptt|rt|soat|cbt)-[A-Za-z0-9_\-]{20,}"),
        ("Slack Token", r"\bxox[abposre]-[A-Za-z0-9\-]{10,}"),
        ("Slack Webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]+"),
        ("Anthropic API Key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
        ("OpenAI API Key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
        ("Devin API Key", r"\b(?:cog|apk)_[A-Za-z0-9_\-]{20,}"),
        ("Google API Key", r"\bAIza[0-9A-Za-z_\-]{35}"),
        ("Stripe Key", r"\b[rs]k_live_[0-9A-Za-z]{20,}"),
        ("JSON Web Token", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        ("URL with password", r"\b[a-z][a-z0-9+.\-]*://[^\s:/@\"'<>]+:(?P<secret>[^\s@/\"'<>${}%*][^\s@/\"'<>]*)@"),
    )
)
_ASSIGNMENT_KIND = "Secret assignment"
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][\w.\-]*)=(?P<bare>[^\s'\"`]+)(?:\s+#.*)?\s*$")
"""`NAME=value` with nothing around the `=` and an unquoted value, as in `.env` files and shell scripts."""
_ENV_FILE_ASSIGNMENT = re.compile(
    r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][\w.\-]*)\s*[=:]\s*"
    r"(?:\"(?P<double>[^\"]+)\"|'(?P<single>[^']+)'|(?P<bare>[^\s'\"#]+))\s*(?:#.*)?$"
)
"""In `.env`-style files: also blanks around the `=`, and quoted values."""
_SECRET_NAME = re.compile(r"(?i)PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\$.*|<.*>|\{\{.*\}\}|\[.*\]|%.*|x+|\*+|\.+|-+|\d+|(?:your|my|some)[_\-].*|change[_\-]?me|placeholder"
    r"|example|dummy|none|null|nil|true|false|todo|tbd|secret|password|(?:/|\./|\.\./|~/).*|.*://.*)$"
)
"""Values that are not secrets: references, placeholders, numbers, flags, paths and URLs (whose passwords the URL
pattern finds)."""
_MIN_ASSIGNED_SECRET = 6
_KEY_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-+/=]*")
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{8,}")
_UTF16_SAMPLE = 4096
_COMMIT_DIFF_OPTIONS = ("-U3", "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/")
_IS_INVALID_FILE = "detect_secrets.filters.common.is_invalid_file"


@dataclass(frozen=True)
class Finding:
    """One secret about to be sent: where it is and what it looks like (the text itself is never printed)."""

    path: str
    line: int | None
    kind: str
    secret_text: str = field(repr=False)
    commit: str | None = None
    binary: bool = False
    name: str | None = None
    """For a secret in a name: what the name is (`file name`, `branch name`, ...); `path` is then the name with the
    secret replaced by `[REDACTED:<kind>]`."""

    @property
    def redactable(self) -> bool:
        """Only text that is not yet committed can be rewritten before sending; names and binary content cannot."""
        return self.commit is None and not self.binary and self.name is None

    def location(self) -> str:
        """`path:line`, `path (binary content)`, `file name <name>`, then `in commit <sha>` for unpushed commits."""
        if self.name is not None:
            where = f"{self.name} {self.path}"
        elif self.line is not None:
            where = f"{self.path}:{self.line}"
        else:
            where = f"{self.path} (binary content)"
        return f"{where} in commit {self.commit[:12]}" if self.commit else where


class RedactionRefused(Exception):
    """Some findings sit where redaction is impossible (binary content, names, unpushed commits)."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        super().__init__(
            "cannot redact secrets in binary content, in names or in unpushed commits: "
            + ", ".join(f"{f.location()} ({f.kind})" for f in self.findings)
        )


class ScanError(Exception):
    """The scan itself failed, so nothing can be sent (the message never quotes the scanned content)."""


def scan(
    collected: Collected,
    context: str = "",
    known_secrets: Mapping[str, str] | None = None,
    *,
    task: str = "",
    history: Sequence[CommitChanges] | None = None,
) -> list[Finding]:
    """Every secret in the patch, its binary files, the unpushed commits (patches and messages), `context` and `task`.

    `known_secrets` maps a name (such as `DEVIN_API_KEY`) to a value that must never leave, found wherever it occurs.
    `history`, when the caller has read the commits already (`History`), stands for `collected.commits`.
    Raises GitError when git fails, ScanError when anything else does.
    """
    from detect_secrets.settings import default_settings  # on first scan: with requests, some 25 MB of modules

    known = {value: f"value of {name}" for name, value in (known_secrets or {}).items() if value}
    try:
        with default_settings() as settings:  # once per scan: entering it costs more than a small diff's scan
            settings.disable_filters(_IS_INVALID_FILE)
            return _scan(collected, context, known, task, history)
    except GitError:
        raise
    except Exception as exc:
        # A scanner bug must stop the handoff with a plain message, and never print what was being scanned.
        raise ScanError(f"the secret scan failed ({type(exc).__name__}), so nothing was sent") from exc


def _scan(
    collected: Collected,
    context: str,
    known: Mapping[str, str],
    task: str,
    history: Sequence[CommitChanges] | None,
) -> list[Finding]:
    patch = collected.patch.decode("utf-8", errors="replace")
    findings = _scan_diff(patch, known)
    names: list[tuple[str, str, str | None]] = []
    for change in collected.files:
        names += [("file name", path, None) for path in (change.path, change.old_path) if path]
        target = collected.repo_dir / change.path
        if change.binary and change.kind != "deleted" and target.is_file() and not target.is_symlink():
            findings += _scan_binary(display_name(change.path), target.read_bytes(), known)
    names += [("file name", item, None) for item in collected.not_sent]
    named = (("branch name", collected.branch), ("upstream branch name", collected.upstream))
    names += [(label, value, None) for label, value in (*named, ("remote URL", collected.remote_url)) if value]
    if collected.commits or history:
        commit_findings, commit_names = _scan_commits(collected, known, history)
        findings += commit_findings
        names += commit_names
    findings += _scan_names(names, known)
    for label, text in ((CONTEXT_PATH, context), (TASK_PATH, task)):
        if text:
            findings += _scan_diff(_as_new_file(label, text), known)
    return findings


def _scan_names(names: Sequence[tuple[str, str, str | None]], known: Mapping[str, str]) -> list[Finding]:
    """Findings in (label, name, commit) triples, each named by the name with its secrets replaced."""
    unique: dict[tuple[str, str, str], Finding] = {}
    for label, raw, commit in names:
        name = display_name(raw)
        matches = list(_match_line(name, known))
        shown = name
        for kind, start, end in sorted(matches, key=lambda match: match[2] - match[1], reverse=True):
            shown = shown.replace(name[start:end], f"[REDACTED:{kind}]")
        for kind, start, end in matches:
            finding = Finding(shown, None, kind, name[start:end], commit=commit, name=label)
            unique.setdefault((label, name, name[start:end]), finding)
    return list(unique.values())


def redact(collected: Collected, context: str, findings: Sequence[Finding]) -> tuple[Collected, str]:
    """Replace each secret with `[REDACTED:<kind>]` in the patch's added lines and in the context."""
    refused = [finding for finding in findings if not finding.redactable]
    if refused:
        raise RedactionRefused(refused)
    replacements = _replacements(findings)
    lines = collected.patch.decode("utf-8", errors="surrogateescape").split("\n")
    redacted_paths: set[str] = set()
    for index, path, _line_no in _added_lines(lines):
        line = "+" + _replace(lines[index][1:], replacements)
        if line != lines[index]:
            lines[index] = line
            redacted_paths.add(path)
    # `index <old>..<new>` names the blob of the original content: anyone could test guesses of the secret against
    # it. A plain `git apply` never reads it, so it is zeroed for the files whose content changed.
    for index, path in _blob_id_lines(lines):
        if path in redacted_paths:
            ids, _, mode = lines[index].removeprefix("index ").partition(" ")
            lines[index] = "index " + re.sub(r"[0-9a-f]", "0", ids) + (f" {mode}" if mode else "")
    patch = "\n".join(lines).encode("utf-8", errors="surrogateescape")
    return dataclasses.replace(collected, patch=patch), _replace(context, replacements)


def redact_text(text: str, findings: Sequence[Finding]) -> str:
    """`text` with every secret of `findings` (each line of a multi-line one) replaced by `[REDACTED:<kind>]`."""
    return _replace(text, _replacements(findings))


def _replacements(findings: Sequence[Finding]) -> list[tuple[str, str]]:
    """(secret, marker) pairs, longest secret first so a secret containing another is replaced whole."""
    replacements: dict[str, str] = {}
    for finding in findings:
        for piece in finding.secret_text.split("\n"):
            if len(piece.strip()) >= _MIN_REDACTED_PIECE:
                replacements.setdefault(piece, f"[REDACTED:{finding.kind}]")
    return sorted(replacements.items(), key=lambda item: -len(item[0]))


def _replace(text: str, replacements: Sequence[tuple[str, str]]) -> str:
    for secret, marker in replacements:
        text = text.replace(secret, marker)
    return text


def _scan_diff(diff: str, known: Mapping[str, str], commit: str | None = None) -> list[Finding]:
    """Findings on the added lines of a unified diff, patterns first, then detect-secrets where they do not overlap."""
    lines = diff.split("\n")
    added = [(path, line_no, lines[index].rstrip("\r")[1:]) for index, path, line_no in _added_lines(lines)]
    text_at = {(path, line_no): text for path, line_no, text in added}
    taken: dict[tuple[str, int], list[tuple[int, int]]] = {}
    findings: list[Finding] = []

    def keep(path: str, line_no: int, kind: str, start: int, end: int, secret: str | None = None) -> None:
        spans = taken.setdefault((path, line_no), [])
        if any(start < other_end and other_start < end for other_start, other_end in spans):
            return
        spans.append((start, end))
        text = secret if secret is not None else text_at[(path, line_no)][start:end]
        findings.append(Finding(path, line_no, kind, text, commit=commit))

    for position, (path, line_no, text) in enumerate(added):
        for kind, start, end in _match_line(text, known, env_file=_is_env_file(path)):
            block = _key_block(added, position, start) if kind == "Private Key" else None
            keep(path, line_no, kind, start, end, block)
            if block is not None:
                for _, block_line_no, block_text in added[position + 1 : position + block.count("\n") + 1]:
                    taken.setdefault((path, block_line_no), []).append((0, len(block_text)))
    for path, line_no, kind, value in _detect_secrets(diff):
        line_text = text_at.get((path, line_no), "")
        start = line_text.find(value)
        if start < 0:
            # The plugin reported a value not verbatim on that line (a YAML block): keep it, unless already covered.
            if (path, line_no) not in taken:
                keep(path, line_no, kind, 0, 0, value)
            continue
        # Some plugins report only a token's prefix (GitHub: `ghp`); the whole token is what must go.
        tail = _TOKEN_TAIL.match(line_text, start + len(value))
        keep(path, line_no, kind, start, tail.end() if tail else start + len(value))
    return findings


def _key_block(added: list[tuple[str, int, str]], position: int, start: int) -> str:
    """The private key starting at `start` in `added[position]`, up to its END line (or the last added line)."""
    path, line_no, first = added[position]
    block = [first[start:]]
    for next_path, next_line_no, text in added[position + 1 :]:
        if next_path != path or next_line_no != line_no + len(block):
            break
        block.append(text)
        if _KEY_END.search(text):
            break
    return "\n".join(block)


def _match_line(text: str, known: Mapping[str, str], *, env_file: bool = False) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) for each known value, high-signal pattern and secret-looking assignment in one line."""
    for value, kind in known.items():
        start = text.find(value)
        while start >= 0:
            yield kind, start, start + len(value)
            start = text.find(value, start + len(value))
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            group = "secret" if "secret" in pattern.groupindex else 0
            yield kind, match.start(group), match.end(group)
    assignment = (_ENV_FILE_ASSIGNMENT if env_file else _ASSIGNMENT).match(text)
    if assignment and _SECRET_NAME.search(assignment["name"]):
        group = next(name for name in ("double", "single", "bare") if assignment.groupdict().get(name))
        value = assignment[group]
        if len(value) >= _MIN_ASSIGNED_SECRET and not _PLACEHOLDER.match(value):
            yield _ASSIGNMENT_KIND, assignment.start(group), assignment.end(group)


def _is_env_file(path: str) -> bool:
    """`.env`, `production.env`, `.env.local`: files of `NAME=value` lines."""
    name = path.rsplit("/", 1)[-1]
    return name == ".env" or name.endswith(".env") or name.startswith(".env.")


def _detect_secrets(diff: str) -> Iterator[tuple[str, int, str, str]]:
    """(path, line, kind, value) for each secret detect-secrets finds on an added line (in `scan`'s settings)."""
    from detect_secrets.core.scan import scan_diff

    for secret in scan_diff(diff):
        if secret.is_added and secret.secret_value:
            yield secret.filename, secret.line_number, secret.type, secret.secret_value


def _scan_binary(path: str, data: bytes, known: Mapping[str, str], commit: str | None = None) -> list[Finding]:
    """Findings in the printable runs of binary content, and in its text when it is UTF-16 (binary to git)."""
    findings: list[Finding] = []
    for run in _PRINTABLE_RUN.finditer(data):
        text = run.group().decode("ascii")
        for kind, start, end in _match_line(text, known):
            findings.append(Finding(path, None, kind, text[start:end], commit=commit, binary=True))
    decoded = _utf16_text(data)
    if decoded is not None:
        found = _scan_diff(_as_new_file(path, decoded), known)
        findings += [dataclasses.replace(f, path=path, line=None, commit=commit, binary=True) for f in found]
    return findings


def _utf16_text(data: bytes) -> str | None:
    """`data` decoded as UTF-16 when it starts with a byte order mark or has the NUL of every other byte of
    ASCII text in UTF-16, else None."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    sample = data[:_UTF16_SAMPLE]
    if len(sample) < 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    for encoding, zeros, others in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and others.count(0) <= 0.1 * len(others):
            return data.decode(encoding, errors="replace")
    return None


@dataclass(frozen=True)
class CommitChanges:
    """One commit as the scan reads it: its patch against its first parent, its message and the files it touches."""

    sha: str
    subject: str
    message: str
    patch: str
    paths: tuple[str, ...]
    """Every path the commit touches (renames as a deletion and an addition)."""
    binary: tuple[str, ...]
    """The paths whose content git treats as binary (no patch lines: their blobs are scanned)."""


class History:
    """Every commit of a range read with two git processes (not three per commit): one ``git log -p`` for the
    patches and messages, one ``git log --numstat -z`` for the file names.

    A random marker, chosen after the commits were made, separates the commits, so no content can pose as a
    separator (a text file may hold any byte).
    """

    def __init__(self) -> None:
        self.marker = f"codeyard-{secrets.token_hex(16)}"

    def patch_args(self, *revisions: str) -> tuple[str, ...]:
        fmt = f"--format={self.marker}commit %H%n%s%n{self.marker}body%n%B%n{self.marker}diff"
        return ("log", "--diff-merges=first-parent", "-p", "-M", *_COMMIT_DIFF_OPTIONS, fmt, *revisions, "--")

    def names_args(self, *revisions: str) -> tuple[str, ...]:
        fmt = f"--format={self.marker}%H"
        return ("log", "--diff-merges=first-parent", "--numstat", "-z", "--no-renames", fmt, *revisions, "--")

    def parse(self, patches: bytes, names: bytes) -> list[CommitChanges]:
        """The commits of both outputs, in the order of ``patches``."""
        paths: dict[str, list[str]] = {}
        binary: dict[str, list[str]] = {}
        marker = self.marker.encode()
        current: list[str] = []
        current_binary: list[str] = []
        for record in names.split(b"\0"):
            record = record.lstrip(b"\n")
            if record.startswith(marker):
                sha = record[len(marker) :].decode()
                current = paths.setdefault(sha, [])
                current_binary = binary.setdefault(sha, [])
                continue
            counts = record.split(b"\t", 2)
            if len(counts) != 3:
                continue
            path = counts[2].decode(errors="surrogateescape")
            current.append(path)
            if counts[:2] == [b"-", b"-"]:
                current_binary.append(path)
        commits: list[CommitChanges] = []
        text = patches.decode("utf-8", errors="replace")
        for chunk in text.split(f"{self.marker}commit ")[1:]:
            head, _, rest = chunk.partition(f"\n{self.marker}body\n")
            sha, _, subject = head.partition("\n")
            message, _, patch = rest.partition(f"{self.marker}diff\n")
            commits.append(
                CommitChanges(
                    sha,
                    subject,
                    message,
                    patch.removeprefix("\n"),
                    tuple(paths.get(sha, ())),
                    tuple(binary.get(sha, ())),
                )
            )
        return commits


def read_history(repo: Path, shas: Sequence[str]) -> list[CommitChanges]:
    """``shas`` (in that order) read from the repository at ``repo``."""
    history = History()
    revisions = ("--no-walk=unsorted", *shas)
    patches = git(repo, *history.patch_args(*revisions)).stdout
    names = git(repo, *history.names_args(*revisions)).stdout
    return history.parse(patches, names)


def _scan_commits(
    collected: Collected, known: Mapping[str, str], history: Sequence[CommitChanges] | None
) -> tuple[list[Finding], list[tuple[str, str, str | None]]]:
    """Findings in each unpushed commit (its patch against its first parent, its binary files, its message), and
    the (label, name, commit) of every file name it touches."""
    repo = collected.repo_dir
    if history is None:
        history = read_history(repo, [commit.sha for commit in collected.commits])
    findings: list[Finding] = []
    names: list[tuple[str, str, str | None]] = []
    for commit in history:
        sha = commit.sha
        findings += _scan_diff(commit.patch, known, commit=sha)
        findings += _scan_diff(_as_new_file(COMMIT_MESSAGE_PATH, commit.message), known, commit=sha)
        names += [("file name", path, sha) for path in commit.paths]
        for path in commit.binary:
            blob = git(repo, "cat-file", "blob", f"{sha}:{path}", check=False)
            if blob.returncode == 0:
                findings += _scan_binary(display_name(path), blob.stdout, known, commit=sha)
    unique: dict[tuple[str, str, str], Finding] = {}
    for finding in findings:
        unique.setdefault((finding.path, finding.kind, finding.secret_text), finding)
    return list(unique.values()), names


def _as_new_file(label: str, text: str) -> str:
    """A diff adding `text` as a new file named `label`, so free text goes through the same scanners."""
    lines = text.removesuffix("\n").split("\n")
    body = "".join(f"+{line}\n" for line in lines)
    header = f"diff --git a/{label} b/{label}\nnew file mode 100644\n--- /dev/null\n+++ b/{label}\n"
    return f"{header}@@ -0,0 +1,{len(lines)} @@\n{body}"


def _added_lines(lines: Sequence[str]) -> Iterator[tuple[int, str, int]]:
    """(index in `lines`, path, line number in the new file) for each added line of a git diff split on newlines."""
    for index, tag, path, line_no in _walk_diff(lines):
        if tag == "+":
            yield index, path, line_no


def _blob_id_lines(lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(index in `lines`, path) of each file's `index <old>..<new>` header line."""
    for index, tag, path, _line_no in _walk_diff(lines):
        if tag == "index":
            yield index, path


def _walk_diff(lines: Sequence[str]) -> Iterator[tuple[int, str, str, int]]:
    """(index in `lines`, tag, path, new line number) for each added line (tag `+`) and each `index` header line.

    Hunk headers give line counts, so content that looks like a header (`+++ x` added as `++ x`) is never misread.
    An `index` line is reported once the file's `+++` line names its path.
    """
    path = ""
    old_left = new_left = line_no = 0
    blob_ids: int | None = None
    for index, line in enumerate(lines):
        if old_left > 0 or new_left > 0:
            tag = line[:1]
            if tag == "+":
                yield index, "+", path, line_no
                line_no, new_left = line_no + 1, new_left - 1
            elif tag == "-":
                old_left -= 1
            elif tag != "\\":
                line_no, old_left, new_left = line_no + 1, old_left - 1, new_left - 1
        elif line.startswith("diff --git "):
            blob_ids = None
        elif line.startswith("index ") and blob_ids is None:
            blob_ids = index
        elif line.startswith("+++ "):
            target = line[4:].rstrip("\r\t").strip('"')
            path = target[2:] if target.startswith("b/") else target
            if blob_ids is not None:
                yield blob_ids, "index", path, 0
        elif hunk := _HUNK.match(line):
            old_left = int(hunk[1]) if hunk[1] is not None else 1
            line_no = int(hunk[2])
            new_left = int(hunk[3]) if hunk[3] is not None else 1
