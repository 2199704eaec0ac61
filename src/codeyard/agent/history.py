"""Keeping a long conversation inside the model's window: condense the middle, never crash.

The condensed view is computed from the full stored history each time, so it is deterministic: a session
resumed after a crash sends the model the same messages it would have sent.
"""

import json
from collections.abc import Sequence

from codeyard.agent.model import Message, ToolCall, estimate_tokens

_NOTE = "[Earlier steps were condensed to fit the model's context window. What happened, in order:]"


def pending_calls(messages: Sequence[Message]) -> list[ToolCall]:
    """Tool calls of the last assistant message that have no result yet (the process died mid-step)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "assistant":
            answered = {m.tool_call_id for m in messages[index + 1 :] if m.role == "tool"}
            return [call for call in message.tool_calls if call.id not in answered]
    return []


def _digest(message: Message, width: int) -> str:
    if message.role == "tool":
        first = message.content.strip().splitlines()[:1]
        return f"  result: {first[0][:width] if first else '(empty)'}"
    if message.role == "assistant":
        parts = [f"  you said: {message.content.strip()[:width]}"] if message.content.strip() else []
        for call in message.tool_calls:
            parts.append(f"  you called {call.name}({json.dumps(call.arguments)[:width]})")
        return "\n".join(parts)
    return f"  the user said: {message.content.strip()[:width]}"


def condense(system: str, messages: Sequence[Message], budget: int) -> list[Message]:
    """``messages`` if they fit ``budget`` tokens; else the task, a digest of the middle and the recent tail.

    The tail starts at an assistant message, so tool calls keep their results and roles still alternate.
    """
    messages = list(messages)
    if estimate_tokens(system, messages) <= budget or len(messages) < 3:
        return messages
    head = messages[0]
    tail_budget = budget // 2
    start = len(messages)
    for index in range(len(messages) - 1, 0, -1):
        if estimate_tokens("", messages[index:]) > tail_budget:
            break
        if messages[index].role == "assistant":
            start = index
    tail = messages[start:]
    middle = messages[1:start]
    digest_budget_chars = max(400, (budget - estimate_tokens(system, [head, *tail])) * 4 - len(head.content))
    lines = [_digest(m, 160) for m in middle]
    text = "\n".join(lines)
    if len(text) > digest_budget_chars:
        text = "  …\n" + text[-digest_budget_chars:]
    content = head.content
    if len(content) > budget * 2:  # the task alone is too long: keep its start and end
        content = content[:budget] + "\n[… task text shortened …]\n" + content[-budget // 2 :]
    merged = Message("user", f"{content}\n\n{_NOTE}\n{text}" if middle else content)
    return [merged, *tail]
