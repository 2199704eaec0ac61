"""Unified diffs of the agent's file changes, for the ``details`` of file events (contract §10)."""

import difflib

MAX_DIFF_INPUT = 256 * 1024
"""Above this many characters on either side the diff is skipped (difflib can be slow on huge inputs)."""


def unified(path: str, before: str, after: str) -> str | None:
    """The change from ``before`` to ``after`` as a unified diff, or ``None`` when the inputs are too large."""
    if len(before) > MAX_DIFF_INPUT or len(after) > MAX_DIFF_INPUT:
        return None
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=2,
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
