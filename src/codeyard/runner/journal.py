"""The agent's ``Journal`` over the database, for one claimed session (redacting what it stores)."""

from collections.abc import Callable, Sequence
from typing import Any

from codeyard.agent.journal import AgentEvent, StepState
from codeyard.agent.model import Message, ToolCall, Usage
from codeyard.runner.redaction import Redactor
from codeyard.services.events import Category
from codeyard.services.runs import Control, EventSpec, Runs


def _item(message: Message) -> dict[str, Any]:
    return {"message": message.to_json()}


class DbJournal:
    def __init__(
        self,
        runs: Runs,
        session_id: str,
        org_id: str,
        runner_id: str,
        redact: Redactor,
        max_acu_limit: float | None,
        acus: Callable[[], float],
        interrupt: Callable[[], str | None] | None = None,
    ) -> None:
        self.runs = runs
        self.session_id = session_id
        self.org_id = org_id
        self.runner_id = runner_id
        self.redact = redact
        self.max_acu_limit = max_acu_limit
        self.acus = acus
        """The session's ACUs so far, counted by the runner without a database read."""
        self.usage_exceeded = False
        self.interrupt = interrupt
        """Why the runner wants the agent to stop after the step in flight (a worker shutting down), if it does."""

    def _clean(self, message: Message) -> Message:
        """The message with every sensitive value redacted, in its text and in its tool calls' arguments."""
        if not self.redact:
            return message
        calls = tuple(
            ToolCall(call.id, call.name, _redacted(call.arguments, self.redact), self.redact(call.raw_arguments))
            for call in message.tool_calls
        )
        return Message(message.role, self.redact(message.content), calls, message.tool_call_id)

    async def history(self) -> list[Message]:
        return [
            Message.from_json(item["message"]) for item in await self.runs.history(self.session_id) if "message" in item
        ]

    async def system_prompt(self) -> str | None:
        for item in await self.runs.history(self.session_id):
            if "system" in item:
                return str(item["system"])
        return None

    async def record(
        self,
        messages: Sequence[Message],
        *,
        events: Sequence[AgentEvent] = (),
        say: str | None = None,
        usage: Usage | None = None,
    ) -> StepState:
        specs = [
            EventSpec(e.event_type, _category(e.category), self.redact(e.summary), _redacted(e.data, self.redact))
            for e in events
        ]
        control = await self.runs.record(
            self.session_id,
            self.runner_id,
            [_item(self._clean(m)) for m in messages],
            events=specs,
            devin_message=self.redact(say) if say is not None else None,
            tokens=(usage.input_tokens, usage.output_tokens) if usage else (0, 0),
        )
        return await self._state(control)

    async def record_system(self, system: str, events: Sequence[EventSpec]) -> None:
        await self.runs.record(self.session_id, self.runner_id, [{"system": system}], events=events)

    async def absorb_user_messages(self) -> list[Message]:
        texts = await self.runs.absorb_user_messages(
            self.session_id, self.runner_id, lambda text: _item(Message("user", text))
        )
        return [Message("user", text) for text in texts]

    async def check(self) -> StepState:
        return await self._state(await self.runs.control(self.session_id, self.runner_id))

    async def _state(self, control: Control) -> StepState:
        if control.stop:
            return StepState(control.stop)
        if self.interrupt is not None and (reason := self.interrupt()) is not None:
            return StepState(reason)
        if self.max_acu_limit is not None and self.acus() >= self.max_acu_limit:
            self.usage_exceeded = True
            return StepState("usage limit reached")
        return StepState(None, control.pending_messages)

    async def attach(self, name: str, data: bytes) -> str:
        """Store a file the agent attaches; a text file is redacted like everything else stored."""
        if self.redact:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                data = self.redact(text).encode("utf-8")
        att = await self.runs.attach(self.session_id, self.org_id, self.redact(name), data, None)
        return self.runs.attachments.signed_url(att)

    async def set_structured_output(self, value: Any) -> None:
        await self.runs.set_structured_output(self.session_id, self.runner_id, _redacted(value, self.redact))


def _redacted(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact) for item in value]
    return value


def _category(value: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        return Category.OTHER
