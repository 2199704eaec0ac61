"""Condensing a long history keeps the task, the recent tail and tool-call pairing; interrupted calls are found."""

from codeyard.agent.history import condense, pending_calls
from codeyard.agent.model import Message, ToolCall, estimate_tokens
from codeyard.agent.tools import cap


def _conversation(steps: int, size: int) -> list[Message]:
    messages = [Message("user", "THE TASK: fix everything")]
    for i in range(steps):
        call = ToolCall(f"c{i}", "run_command", {"command": f"step {i}"})
        messages.append(Message("assistant", f"thinking {i}", (call,)))
        messages.append(Message("tool", f"output {i}\n" + "x" * size, tool_call_id=f"c{i}"))
    return messages


def test_a_short_history_is_left_alone() -> None:
    messages = _conversation(3, 10)
    assert condense("system", messages, 10_000) == messages


def test_a_long_history_is_condensed_within_budget() -> None:
    messages = _conversation(200, 2000)
    view = condense("system", messages, 20_000)
    assert estimate_tokens("system", view) <= 20_000
    assert view[0].role == "user" and view[0].content.startswith("THE TASK: fix everything")
    assert "condensed" in view[0].content and "you called run_command" in view[0].content
    assert view[1].role == "assistant"
    assert view[-1] == messages[-1]
    answered = {m.tool_call_id for m in view if m.role == "tool"}
    assert answered == {c.id for m in view if m.role == "assistant" for c in m.tool_calls}


def test_condensing_is_deterministic() -> None:
    messages = _conversation(100, 3000)
    assert condense("s", messages, 15_000) == condense("s", messages, 15_000)


def test_pending_calls_are_those_without_results() -> None:
    calls = (ToolCall("a", "run_command", {}), ToolCall("b", "read_file", {}))
    history = [Message("user", "t"), Message("assistant", "", calls), Message("tool", "ok", tool_call_id="a")]
    assert [c.id for c in pending_calls(history)] == ["b"]
    assert pending_calls([*history, Message("tool", "ok", tool_call_id="b")]) == []
    assert pending_calls([Message("user", "t")]) == []


def test_cap_keeps_short_text_and_marks_the_cut_of_long_text() -> None:
    assert cap("short", 100, "tool output") == "short"
    text = "HEAD" + "x" * 10_000 + "TAIL"
    capped = cap(text, 1000, "tool output")
    assert len(capped) <= 1000
    assert capped.startswith("HEAD") and capped.endswith("TAIL")
    kept = len(capped) - len("\n[… tool output cut: 9,999 of 10,008 characters left out here …]\n")
    assert f"\n[… tool output cut: {10_008 - kept:,} of 10,008 characters left out here …]\n" in capped
    assert "cut" in cap("y" * 500, 10, "model reply")  # a limit below the marker still says what happened
