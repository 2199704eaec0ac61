"""The order in which waiting sessions get a runner slot: round-robin across organizations.

A global FIFO let one organization that queued a hundred sessions hold every slot for hours. Instead each
organization's waiting sessions take turns: an organization's k-th waiting session (oldest first) is served in
round ``running + k``, where ``running`` is how many of its sessions hold a slot now; within a round the older
session goes first. ``queue_position`` is the place in this same order, so it stays what a client expects.
"""

from collections.abc import Mapping, Sequence


def fair_order(waiting: Sequence[tuple[str, str]], running: Mapping[str, int]) -> list[str]:
    """Session ids in serving order; ``waiting`` is ``(session_id, org_id)`` oldest first, ``running`` per org."""
    seen: dict[str, int] = {}
    keyed: list[tuple[int, int, str]] = []
    for index, (session_id, org_id) in enumerate(waiting):
        turn = seen.get(org_id, 0)
        seen[org_id] = turn + 1
        keyed.append((running.get(org_id, 0) + turn, index, session_id))
    return [session_id for _, _, session_id in sorted(keyed)]
