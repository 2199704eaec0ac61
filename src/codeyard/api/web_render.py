"""Text for the web app, rendered on the server: markdown to sanitised HTML (markdown-it-py, then nh3), and a
handoff prompt summarised (repo, branch, commits, files) instead of shown as its manifest.

The browser inserts ``html`` as it is, so everything a message may contain is made safe here: raw HTML in the
markdown is escaped by the parser, and nh3 keeps only an allowlist of tags, attributes and link schemes.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

import nh3
from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "a",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}

FENCE = "codeyard-handoff"
"""The manifest block of a ``codeyard handoff`` prompt (``codeyard.handoff.manifest.FENCE``)."""
_MANIFEST = re.compile(r"^```" + FENCE + r"[ \t]*\n(.*?)\n```[ \t]*$", re.S | re.M)
_SECTION = re.compile(r"^## (.+)$", re.M)
_WORK_SECTION = "Local work handed off"


def markdown(text: str) -> str:
    """``text`` as sanitised HTML."""
    return nh3.clean(
        _MD.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


@dataclass
class Handoff:
    """What a handoff prompt carries, for a summary card."""

    repo: str | None
    branch: str | None
    base_sha: str | None
    head_sha: str | None
    commits: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Other lines of the handed-off work section (checked-out state, what was left out)."""


@dataclass
class Rendered:
    html: str
    handoff: Handoff | None = None


def render_message(text: str) -> Rendered:
    """A message as HTML; a handoff prompt as its task in HTML plus a ``Handoff`` summary."""
    found = _MANIFEST.search(text)
    if found is None:
        return Rendered(markdown(text))
    try:
        manifest: Any = json.loads(found.group(1))
    except json.JSONDecodeError:
        return Rendered(markdown(text))
    if not isinstance(manifest, dict):
        return Rendered(markdown(text))
    sections = _sections(text[: found.start()])
    task = sections.pop("", "")
    context = sections.get("Context from the local environment", "")
    html = markdown(task)
    if context.strip():
        html += "<h4>Context from the local environment</h4>" + markdown(context)
    handoff = Handoff(
        repo=_text(manifest.get("remote_url")),
        branch=_text(manifest.get("branch")),
        base_sha=_text(manifest.get("base_sha")),
        head_sha=_text(manifest.get("head_sha")),
    )
    _read_work(sections.get(_WORK_SECTION, ""), handoff)
    return Rendered(html, handoff)


def _text(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) else None


def _sections(text: str) -> dict[str, str]:
    """The text before the first ``## `` heading under ``""``, then each section under its heading."""
    out: dict[str, str] = {}
    marks = list(_SECTION.finditer(text))
    out[""] = text[: marks[0].start()] if marks else text
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.setdefault(mark.group(1).strip(), text[mark.end() : end])
    return out


def _read_work(section: str, handoff: Handoff) -> None:
    """Commits and files from the section's nested bullets (``handoff.prompt.summary_lines``)."""
    target: list[str] | None = None
    for line in section.splitlines():
        if line.startswith("- "):
            head = line[2:].strip()
            if head.startswith("Unpushed commits"):
                target = handoff.commits
            elif head.startswith("Uncommitted changes"):
                target = handoff.files
            else:
                target = None
                if not head.startswith("Repository:"):
                    handoff.notes.append(head[:500])
        elif line.startswith("  - ") and target is not None and len(target) < 200:
            target.append(line[4:].strip()[:500])
