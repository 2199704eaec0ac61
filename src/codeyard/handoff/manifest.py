"""The machine-readable part of a handoff prompt: what the server needs to rebuild the user's work tree.

It travels inside the prompt as a fenced ```` ```codeyard-handoff ```` block of JSON, so a plain Devin-compatible
API carries it unchanged and codeyard's runner can find it before the agent starts. Attachments are named here and
linked from the prompt with `ATTACHMENT:"<url>"` lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from codeyard.handoff.collect import Collected

FENCE = "codeyard-handoff"
VERSION = 1
INLINE_LIMIT = 48 * 1024
BUNDLE_NAME = "handoff.bundle"
PATCH_NAME = "handoff.patch"
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True)
class Manifest:
    """Where the handed-off work starts (remote, branch, base) and which attachment or inline text carries it."""

    remote_url: str | None
    branch: str | None
    base_sha: str
    head_sha: str
    bundle: str | None
    patch: str | None
    patch_inline: str | None
    version: int = VERSION

    def to_block(self) -> str:
        """The fenced block to put in the prompt."""
        body = {"version": self.version, **{k: v for k, v in asdict(self).items() if k != "version"}}
        return f"```{FENCE}\n{json.dumps(body, indent=2)}\n```"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read a manifest block's JSON, raising ValueError that says what is wrong."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the {FENCE} block is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"the {FENCE} block must hold a JSON object")
        if data.get("version") != VERSION:
            raise ValueError(f"unsupported {FENCE} version {data.get('version')!r} (this server reads {VERSION})")
        for key in ("base_sha", "head_sha"):
            if not isinstance(data.get(key), str) or not _SHA.match(data[key]):
                raise ValueError(f"{key} must be a full commit id")
        for key in ("remote_url", "branch", "bundle", "patch", "patch_inline"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"{key} must be a string or null")
        if data.get("patch") and data.get("patch_inline"):
            raise ValueError("patch and patch_inline are exclusive")
        return cls(
            remote_url=data.get("remote_url"),
            branch=data.get("branch"),
            base_sha=data["base_sha"],
            head_sha=data["head_sha"],
            bundle=data.get("bundle"),
            patch=data.get("patch"),
            patch_inline=data.get("patch_inline"),
        )


def manifest_for(collected: Collected) -> Manifest:
    """The manifest describing `collected`: small text patches inline, large or binary ones attached, never cut."""
    inline = _inline_text(collected)
    return Manifest(
        remote_url=collected.remote_url,
        branch=collected.branch,
        base_sha=collected.base_sha,
        head_sha=collected.head_sha,
        bundle=BUNDLE_NAME if collected.bundle is not None else None,
        patch=PATCH_NAME if collected.patch and inline is None else None,
        patch_inline=inline,
    )


def _inline_text(collected: Collected) -> str | None:
    if not collected.patch or collected.has_binary_changes or len(collected.patch) > INLINE_LIMIT:
        return None
    try:
        return collected.patch.decode("utf-8")
    except UnicodeDecodeError:
        return None
