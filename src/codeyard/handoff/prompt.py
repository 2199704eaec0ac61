"""The handoff prompt: the task first, then what was handed off, in words an agent on any Devin-compatible
service can act on, then the manifest block codeyard's runner reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from codeyard.handoff.collect import Collected
from codeyard.handoff.manifest import Manifest

_LISTED_COMMITS = 20
_LISTED_FILES = 50


def compose_prompt(
    task: str, context: str, collected: Collected, manifest: Manifest, attachment_urls: Mapping[str, str]
) -> str:
    """The full prompt; `attachment_urls` maps each attachment named in `manifest` to its uploaded URL."""
    parts = [task.strip()]
    if context.strip():
        parts.append("## Context from the local environment\n\n" + context.strip())
    parts.append("## Local work handed off\n\n" + "\n".join(f"- {line}" for line in summary_lines(collected)))
    parts.append(_rebuild_steps(collected, manifest))
    if attachment_urls:
        parts.append("\n".join(f'ATTACHMENT:"{url}"' for url in attachment_urls.values()))
    if manifest.patch_inline is not None:
        diff = manifest.patch_inline.rstrip("\n")
        parts.append(f"Uncommitted local changes:\n\n```diff\n{diff}\n```")
    parts.append(manifest.to_block())
    return "\n\n".join(parts) + "\n"


def summary_lines(collected: Collected) -> list[str]:
    """Plain-words lines saying what the handoff carries, shown to the user before sending and put in the prompt."""
    if collected.remote_url:
        host = f" (host {collected.host})" if collected.host else ""
        repo = f"Repository: {collected.remote_url}{host}, remote `{collected.remote_name}`"
    else:
        repo = "Repository: no remote; the attached bundle holds the whole history"
    where = f"branch `{collected.branch}`" if collected.branch else "a detached HEAD"
    lines = [repo, f"Checked out: {where} at {collected.head_sha}"]
    if collected.base_on_remote:
        upstream = f" (upstream `{collected.upstream}`)" if collected.upstream else ""
        lines.append(f"Base commit on the remote: {collected.base_sha}{upstream}")
    lines.append(_commits_line(collected))
    lines.append(_files_line(collected))
    if collected.not_sent:
        lines.append("Not sent (left out of the handoff):" + "".join(f"\n  - {item}" for item in collected.not_sent))
    return lines


def _commits_line(collected: Collected) -> str:
    if not collected.commits:
        return "Unpushed commits: none"
    listed = [f"{commit.sha[:12]} {commit.subject}" for commit in collected.commits[-_LISTED_COMMITS:]]
    more = len(collected.commits) - len(listed)
    head = f"Unpushed commits: {len(collected.commits)} (in the bundle)"
    return head + "".join(f"\n  - {line}" for line in ([f"... {more} older"] if more else []) + listed)


def _files_line(collected: Collected) -> str:
    if not collected.files:
        return "Uncommitted changes: none"
    listed = [change.describe() for change in collected.files[:_LISTED_FILES]]
    more = len(collected.files) - len(listed)
    size = _size(len(collected.patch))
    count = f"{len(collected.files)} file" + ("s" if len(collected.files) > 1 else "")
    head = f"Uncommitted changes (untracked files included): {count}, patch {size}"
    return head + "".join(f"\n  - {line}" for line in listed + ([f"... {more} more"] if more else []))


def _rebuild_steps(collected: Collected, manifest: Manifest) -> str:
    steps = [
        "## Rebuilding this state",
        "",
        "A codeyard server rebuilds this state in the workspace before you start. Elsewhere, rebuild it yourself:",
    ]
    if manifest.bundle:
        where = "a clone of the repository" if collected.remote_url else "an empty directory (`git init` first)"
        checkout = f"git checkout -B {manifest.branch}" if manifest.branch else "git checkout --detach"
        steps.append(f"1. In {where}: `git fetch {manifest.bundle} HEAD`, then `{checkout} {manifest.head_sha}`.")
    else:
        checkout = f"git checkout -B {manifest.branch}" if manifest.branch else "git checkout --detach"
        steps.append(f"1. In a clone of the repository: `{checkout} {manifest.base_sha}`.")
    if manifest.patch:
        steps.append(f"2. `git apply --binary {manifest.patch}` (uncommitted changes; new files stay untracked).")
    elif manifest.patch_inline is not None:
        steps.append("2. Apply the diff below with `git apply` (uncommitted changes; new files stay untracked).")
    return "\n".join(steps)


def _size(count: int) -> str:
    return f"{count} bytes" if count < 1024 else f"{count / 1024:.1f} KiB"
