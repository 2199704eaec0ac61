"""Workspace checkpoints of the runner: the archive format lives in ``codeyard.storage.checkpoints``; here is what
the agent is told after its session moved."""

from codeyard.storage.checkpoints import restore, save

__all__ = ["moved_note", "restore", "save"]


def moved_note(step: int) -> str:
    """What the agent is told after its session moved to another machine."""
    return (
        f"Note from the server: the machine was replaced; the workspace is as of step {step} of this session "
        "(the last checkpoint). Changes made after it may be lost: check the workspace before going on."
    )
