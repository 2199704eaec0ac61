"""The agent loop: ask the model, run the tools it calls, store every step, until it answers without tools.

In the spirit of mini-swe-agent's ``DefaultAgent``, with native tool calling. One call of ``run_turn``
takes the session from its stored history to the next point where it needs nothing more: the task is done
(``FINISHED``), it asked the user something (``WAITING``), it must stop (``STOPPED``: terminated, archived,
usage limit), or it used up its steps.
"""

import json
from dataclasses import dataclass
from enum import StrEnum

from codeyard.agent.history import condense, pending_calls
from codeyard.agent.journal import AgentEvent, Journal
from codeyard.agent.model import ContextOverflowError, Message, Model, Reply, ToolCall, estimate_tokens
from codeyard.agent.tools import Toolbox, ToolResult, cap

INTERRUPTED = (
    "The server stopped while this tool call was running, so its result is unknown. "
    "Check the workspace before repeating it."
)
NUDGE = (
    "You have not submitted the structured output yet. Call submit_structured_output with a value "
    "that matches the schema, then finish."
)


class Outcome(StrEnum):
    FINISHED = "finished"
    WAITING = "waiting"
    STOPPED = "stopped"


@dataclass(frozen=True)
class AgentConfig:
    max_steps: int = 200
    """Most model calls in one turn, so a confused model cannot loop forever."""
    context_fraction: float = 0.75
    """Share of the context window the conversation may fill before it is condensed."""
    max_reply_chars: int = 200_000
    """Most characters of a reply's text, and of each tool call's arguments, that are kept and stored."""


@dataclass(frozen=True)
class TurnResult:
    outcome: Outcome
    reason: str = ""


class Agent:
    def __init__(
        self,
        model: Model,
        tools: Toolbox,
        journal: Journal,
        *,
        system: str,
        config: AgentConfig | None = None,
        require_output: bool = False,
    ) -> None:
        self.model = model
        self.tools = tools
        self.journal = journal
        self.system = system
        self.config = config or AgentConfig()
        self.require_output = require_output
        self._output_submitted = False

    async def run_turn(self) -> TurnResult:
        history = await self.journal.history()
        missing = pending_calls(history)
        if missing:  # the process died mid-step: say so instead of pretending or repeating the command
            results = [Message("tool", INTERRUPTED, tool_call_id=call.id) for call in missing]
            await self.journal.record(results, events=[_interrupted(call) for call in missing])
            history += results
        news = await self.journal.absorb_user_messages()
        if not news:
            settled = self._settled(history)
            if settled is not None:
                return settled
        history += news
        nudged = False
        state = await self.journal.check()
        for _ in range(self.config.max_steps):
            if state.stop:
                return TurnResult(Outcome.STOPPED, state.stop)
            if state.pending_messages:
                history += await self.journal.absorb_user_messages()
            reply, oversized = self._capped(await self._ask(history))
            assistant = Message("assistant", reply.text, reply.tool_calls)
            if not reply.tool_calls:
                if self.require_output and not self._output_submitted and not nudged:
                    nudge = Message("user", NUDGE)
                    state = await self.journal.record([assistant, nudge], usage=reply.usage)
                    history += [assistant, nudge]
                    nudged = True
                    continue
                await self.journal.record([assistant], usage=reply.usage, say=reply.text.strip() or "Done.")
                return TurnResult(Outcome.FINISHED)
            state = await self.journal.record([assistant], usage=reply.usage, say=reply.text.strip() or None)
            history.append(assistant)
            wait = False
            for call in reply.tool_calls:
                result = await self.tools.run(call) if call.id not in oversized else self._refused(oversized[call.id])
                if call.name == "submit_structured_output" and not result.text.startswith("error"):
                    self._output_submitted = True
                message = Message("tool", result.text, tool_call_id=call.id)
                state = await self.journal.record([message], events=result.events, say=result.say)
                history.append(message)
                wait = wait or result.wait
            if wait:
                return TurnResult(Outcome.WAITING)
        await self.journal.record(
            [],
            say=f"I stopped after {self.config.max_steps} steps without finishing. Send a message to let me continue.",
        )
        return TurnResult(Outcome.FINISHED, "step limit")

    def _capped(self, reply: Reply) -> tuple[Reply, dict[str, int]]:
        """The reply within ``max_reply_chars``: a longer text is cut (and marked); a tool call with longer arguments
        keeps none of them and is not run. Returns the calls so emptied, with their original sizes."""
        limit = self.config.max_reply_chars
        oversized: dict[str, int] = {}
        calls: list[ToolCall] = []
        for call in reply.tool_calls:
            size = len(call.raw_arguments) if call.raw_arguments else len(json.dumps(call.arguments))
            if size > limit:
                oversized[call.id] = size
                call = ToolCall(call.id, call.name, {}, "{}")
            calls.append(call)
        if not oversized and len(reply.text) <= limit:
            return reply, oversized
        text = cap(reply.text, limit, "model reply")
        return Reply(text, tuple(calls), reply.usage, reply.stop_reason), oversized

    def _refused(self, size: int) -> ToolResult:
        return ToolResult(
            f"error: the arguments of this call were {size:,} characters, more than the "
            f"{self.config.max_reply_chars:,} one reply may carry, so nothing was done. "
            "Send large content in smaller pieces (several calls, or a command that appends)."
        )

    @staticmethod
    def _settled(history: list[Message]) -> TurnResult | None:
        """With no new input, the stored history may already say how the last turn ended (a crash after it)."""
        if not history:
            return None
        last = history[-1]
        if last.role == "assistant" and not last.tool_calls:
            return TurnResult(Outcome.FINISHED)
        if last.role == "tool":
            for message in reversed(history):
                if message.role == "assistant":
                    if any(call.name == "ask_user" for call in message.tool_calls):
                        return TurnResult(Outcome.WAITING)
                    break
        return None

    async def _ask(self, history: list[Message]) -> Reply:
        """One model call on a view of the history that fits the window; shrink the view if the provider objects."""
        budget = int(self.model.context_window * self.config.context_fraction)
        for _ in range(4):
            view = condense(self.system, history, budget)
            try:
                return await self.model.complete(self.system, view, self.tools.specs)
            except ContextOverflowError:  # our estimate was too generous for this model: halve what was sent
                budget = min(budget, estimate_tokens(self.system, view)) // 2
        view = condense(self.system, history, budget)
        return await self.model.complete(self.system, view, self.tools.specs)


def _interrupted(call: ToolCall) -> AgentEvent:
    """The event of a tool call that the server's restart cut off: its result is unknown."""
    command = call.arguments.get("command") if call.name == "run_command" and call.has_valid_arguments else None
    what = f"$ {str(command)[:300]}" if command is not None else call.name
    return AgentEvent(
        "tool_interrupted",
        "lifecycle",
        f"the server restarted while this ran: {what}",
        {
            "tool": call.name,
            "command": command,
            "path": call.arguments.get("path") if call.has_valid_arguments else None,
        },
    )
