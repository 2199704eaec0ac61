"""Every transition of the session lifecycle (contract §4), allowed and refused, over every reachable state."""

from dataclasses import replace

import pytest

from codeyard.domain.lifecycle import (
    ACTIVE,
    RUNNABLE,
    SessionState,
    SessionStatus as S,
    StatusDetail as D,
    TransitionError,
)

STATES: dict[str, SessionState] = {
    "new": SessionState(S.NEW),
    "claimed": SessionState(S.CLAIMED),
    "working": SessionState(S.RUNNING, D.WORKING),
    "waiting": SessionState(S.RUNNING, D.WAITING_FOR_USER),
    "finished": SessionState(S.EXIT, D.FINISHED),
    "inactive": SessionState(S.SUSPENDED, D.INACTIVITY),
    "over_limit": SessionState(S.SUSPENDED, D.USAGE_LIMIT_EXCEEDED),
    "resuming": SessionState(S.RESUMING),
    "failed": SessionState(S.ERROR, D.ERROR),
    "terminated": SessionState(S.EXIT, D.USER_REQUEST),
    "archived_asleep": SessionState(S.SUSPENDED, D.USER_REQUEST, is_archived=True),
    "archived_finished": SessionState(S.EXIT, D.FINISHED, is_archived=True),
}
LIVE = ("new", "claimed", "working", "waiting", "resuming")

#: action → {state name: resulting state name}; a state not listed refuses the action.
ALLOWED: dict[str, dict[str, str]] = {
    "claim": {"new": "claimed", "resuming": "resuming"},
    "start": {"claimed": "working", "resuming": "working"},
    "ask_user": {"working": "waiting", "waiting": "waiting"},
    "finish": {"working": "finished", "waiting": "finished"},
    "suspend_inactive": {"waiting": "inactive"},
    "suspend_usage": dict.fromkeys(("claimed", "working", "waiting", "resuming"), "over_limit"),
    "fail": {s: "failed" for s in STATES if s not in ("terminated", "failed", "archived_asleep", "archived_finished")},
    "requeue": {"claimed": "new", "working": "resuming", "waiting": "resuming", "resuming": "resuming"},
    "receive_message": {
        "new": "new",
        "claimed": "claimed",
        "resuming": "resuming",
        "working": "working",
        "waiting": "working",
        "finished": "resuming",
        "inactive": "resuming",
        "over_limit": "resuming",
        "failed": "resuming",
    },
    "terminate": {s: "terminated" for s in STATES if not s.startswith("archived")},
    "archive": {
        **dict.fromkeys(LIVE, "archived_asleep"),
        "finished": "archived_finished",
        "archived_asleep": "archived_asleep",
        "archived_finished": "archived_finished",
    },
}
CASES = [(action, name) for action in ALLOWED for name in STATES]


def expected_result(action: str, name: str) -> SessionState | None:
    state = STATES[name]
    if action == "fail" and state.is_archived:
        return replace(STATES["failed"], is_archived=True)
    if action == "terminate" and state.is_archived:
        return replace(STATES["terminated"], is_archived=True)
    if action == "archive" and name in ("inactive", "over_limit", "failed", "terminated"):
        return replace(state, is_archived=True)
    target = ALLOWED[action].get(name)
    return STATES[target] if target else None


@pytest.mark.parametrize(("action", "name"), CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_transition(action: str, name: str) -> None:
    state = STATES[name]
    expected = expected_result(action, name)
    if expected is None:
        with pytest.raises(TransitionError):
            getattr(state, action)()
    else:
        assert getattr(state, action)() == expected


def test_refusals_name_the_action_and_the_state() -> None:
    with pytest.raises(TransitionError, match=r"cannot finish a session that is exit/finished"):
        STATES["finished"].finish()
    with pytest.raises(TransitionError, match="terminated"):
        STATES["terminated"].receive_message()
    with pytest.raises(TransitionError, match="archived"):
        STATES["archived_finished"].receive_message()


def test_terminated_is_final_and_archived_takes_no_messages() -> None:
    assert [n for n, s in STATES.items() if s.terminated] == ["terminated"]
    refusing = {n for n, s in STATES.items() if not s.accepts_messages}
    assert refusing == {"terminated", "archived_asleep", "archived_finished"}
    for action in ALLOWED:
        if action in ("terminate", "archive", "fail"):
            continue
        with pytest.raises(TransitionError):
            getattr(STATES["terminated"], action)()


def test_a_whole_life() -> None:
    state = STATES["new"]
    for action, expected in [
        ("claim", "claimed"),
        ("start", "working"),
        ("ask_user", "waiting"),
        ("receive_message", "working"),
        ("finish", "finished"),
        ("receive_message", "resuming"),
        ("claim", "resuming"),
        ("start", "working"),
        ("ask_user", "waiting"),
        ("suspend_inactive", "inactive"),
        ("receive_message", "resuming"),
        ("terminate", "terminated"),
    ]:
        state = getattr(state, action)()
        assert state == STATES[expected], action


def test_runnable_and_active_sets() -> None:
    assert {S.NEW, S.RESUMING} == RUNNABLE
    assert {S.CLAIMED, S.RUNNING} == ACTIVE
    assert not RUNNABLE & ACTIVE
