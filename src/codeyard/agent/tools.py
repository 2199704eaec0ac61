"""The agent's tools (contract §5): shell, files, talking to the user, attachments, structured output.

File tools work on the host side of the workspace, confined to it: a path that leaves the workspace,
directly or through a symlink, is refused.
"""

import json
import mimetypes
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import referencing.exceptions

from codeyard.agent.diffs import unified
from codeyard.agent.journal import AgentEvent, Journal
from codeyard.agent.model import ToolCall, ToolSpec
from codeyard.sandbox import Sandbox, SandboxError

MAX_READ_CHARS = 60_000
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class ToolResult:
    text: str
    events: list[AgentEvent] = field(default_factory=list)
    say: str | None = None
    """A devin message to store with the result."""
    wait: bool = False
    """The agent asked the user a question: end the turn and wait for the reply."""


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


_STR = {"type": "string"}


class Toolbox:
    def __init__(
        self,
        sandbox: Sandbox,
        journal: Journal,
        *,
        env: Mapping[str, str],
        redact: Callable[[str], str],
        command_timeout: float,
        output_schema: dict[str, Any] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.workspace = sandbox.workspace.resolve()
        self.journal = journal
        # Bytecode caches go stale when a file is edited twice within a second with the same size.
        self.env = {"PYTHONDONTWRITEBYTECODE": "1", **env}
        self.redact = redact
        self.command_timeout = command_timeout
        self.output_schema = output_schema
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[ToolResult]]] = {
            "run_command": self._run_command,
            "read_file": self._read_file,
            "write_file": self._write_file,
            "edit_file": self._edit_file,
            "message_user": self._message_user,
            "ask_user": self._ask_user,
            "attach_file": self._attach_file,
        }
        if output_schema is not None:
            self._handlers["submit_structured_output"] = self._submit

    @property
    def specs(self) -> list[ToolSpec]:
        specs = [
            ToolSpec(
                "run_command",
                "Run a bash command in the workspace (the current directory) and get its exit "
                "code and output. Long output is truncated in the middle.",
                _obj(
                    {
                        "command": _STR,
                        "timeout": {"type": "number", "description": "seconds"},
                        "cwd": {"type": "string", "description": "directory relative to the workspace"},
                    },
                    ["command"],
                ),
            ),
            ToolSpec(
                "read_file",
                "Read a text file of the workspace, optionally from a 1-based line and for a number of lines.",
                _obj({"path": _STR, "start_line": {"type": "integer"}, "max_lines": {"type": "integer"}}, ["path"]),
            ),
            ToolSpec(
                "write_file",
                "Create or overwrite a file of the workspace with the given content.",
                _obj({"path": _STR, "content": _STR}, ["path", "content"]),
            ),
            ToolSpec(
                "edit_file",
                "Replace an exact piece of text in a workspace file. `old` must occur exactly "
                "once unless `replace_all` is true.",
                _obj(
                    {"path": _STR, "old": _STR, "new": _STR, "replace_all": {"type": "boolean"}}, ["path", "old", "new"]
                ),
            ),
            ToolSpec(
                "message_user",
                "Send the user a message (progress, findings) without stopping work.",
                _obj({"message": _STR}, ["message"]),
            ),
            ToolSpec(
                "ask_user",
                "Ask the user a question and stop until they answer.",
                _obj({"question": _STR}, ["question"]),
            ),
            ToolSpec(
                "attach_file",
                "Attach a workspace file to the session so the user can download it.",
                _obj({"path": _STR, "name": _STR}, ["path"]),
            ),
        ]
        if self.output_schema is not None:
            specs.append(
                ToolSpec(
                    "submit_structured_output",
                    "Submit the session's structured output; it must validate against this JSON Schema: "
                    + json.dumps(self.output_schema)[:4000],
                    _obj({"output": {}, "is_final": {"type": "boolean"}}, ["output"]),
                )
            )
        return specs

    async def run(self, call: ToolCall) -> ToolResult:
        handler = self._handlers.get(call.name)
        if handler is None:
            return ToolResult(f"error: there is no tool named {call.name!r}")
        if not call.has_valid_arguments:
            return ToolResult(f"error: the arguments were not a JSON object: {call.raw_arguments[:500]}")
        try:
            result = await handler(call.arguments)
        except (ToolError, SandboxError) as exc:
            result = ToolResult(f"error: {exc}")
        except (KeyError, TypeError, ValueError) as exc:
            result = ToolResult(f"error: bad arguments for {call.name}: {exc}")
        result.text = self.redact(result.text)
        return result

    # -- workspace paths --------------------------------------------------------------------------------
    def _relative(self, raw: str) -> str:
        """A path as the model may write it (``/workspace/…``, the host path, or relative) made relative."""
        for root in (str(self.workspace), "/workspace"):
            if raw == root:
                return "."
            if raw.startswith(root + "/"):
                return raw[len(root) + 1 :]
        return raw

    def _path(self, relative: object) -> Path:
        if not isinstance(relative, str) or not relative.strip():
            raise ToolError("`path` must be a non-empty string")
        raw = self._relative(relative.strip())
        candidate = (self.workspace / raw).resolve()
        if candidate != self.workspace and self.workspace not in candidate.parents:
            raise ToolError(f"{relative!r} is outside the workspace")
        return candidate

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(self.workspace)) or "."

    # -- tools ---------------------------------------------------------------------------------------------
    async def _run_command(self, args: dict[str, Any]) -> ToolResult:
        command = str(args["command"])
        timeout = min(float(args.get("timeout") or self.command_timeout), self.command_timeout)
        cwd = self._relative(str(args["cwd"]).strip()) if args.get("cwd") else None
        result = await self.sandbox.run(command, timeout=timeout, env=self.env, cwd=None if cwd == "." else cwd)
        if result.timed_out:
            status = f"timed out after {timeout:g} s and was killed"
        elif result.cancelled:
            status = "was stopped"
        else:
            status = f"exit code {result.exit_code}"
        text = f"[{status}]\n{result.output}"
        event = AgentEvent(
            "command_run",
            "shell",
            self.redact(f"$ {command[:300]} → {status}"),
            {
                "command": command,
                "cwd": cwd,
                "exit_code": result.exit_code,
                "duration_s": round(result.duration_s, 3),
                "timed_out": result.timed_out,
                "cancelled": result.cancelled,
                "output": result.output,
            },
        )
        return ToolResult(text, [event])

    async def _read_file(self, args: dict[str, Any]) -> ToolResult:
        path = self._path(args["path"])
        if not path.is_file():
            raise ToolError(f"{args['path']!r} is not a file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ToolError("the file is too large to read whole: use run_command with head/sed/grep")
        lines = path.read_text(errors="replace").splitlines(keepends=True)
        start = max(1, int(args.get("start_line") or 1))
        count = int(args.get("max_lines") or len(lines))
        chosen = lines[start - 1 : start - 1 + max(0, count)]
        text = "".join(f"{start + i:>6}\t{line}" for i, line in enumerate(chosen))
        if len(text) > MAX_READ_CHARS:
            text = text[:MAX_READ_CHARS] + f"\n[… truncated: read from line {start} in smaller pieces …]"
        details = {"path": self._shown(path), "start_line": start, "lines": len(chosen)}
        return ToolResult(
            text or "(empty file)", [AgentEvent("file_read", "file", f"read {self._shown(path)}", details)]
        )

    async def _write_file(self, args: dict[str, Any]) -> ToolResult:
        path = self._path(args["path"])
        content = str(args["content"])
        existed = path.exists()
        before = _text_before(path) if existed else ""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        verb = "updated" if existed else "created"
        shown = self._shown(path)
        details = {"path": shown, "bytes": len(content.encode()), "diff": unified(shown, before or "", content)}
        return ToolResult(
            f"{verb} {shown} ({len(content.encode())} bytes)",
            [AgentEvent(f"file_{verb}", "file", f"{verb} {shown}", details)],
        )

    async def _edit_file(self, args: dict[str, Any]) -> ToolResult:
        path = self._path(args["path"])
        if not path.is_file():
            raise ToolError(f"{args['path']!r} is not a file")
        old, new = str(args["old"]), str(args["new"])
        if not old:
            raise ToolError("`old` must not be empty")
        text = path.read_text()
        count = text.count(old)
        if count == 0:
            raise ToolError("`old` was not found in the file; read the file and copy the text exactly")
        if count > 1 and not args.get("replace_all"):
            raise ToolError(f"`old` occurs {count} times; add context to make it unique or set replace_all")
        after = text.replace(old, new)
        path.write_text(after)
        shown = self._shown(path)
        diff = unified(shown, text, after) or unified(shown, old, new)
        return ToolResult(
            f"edited {shown}: replaced {count} occurrence(s)",
            [
                AgentEvent(
                    "file_edited", "file", f"edited {shown}", {"path": shown, "replacements": count, "diff": diff}
                )
            ],
        )

    async def _message_user(self, args: dict[str, Any]) -> ToolResult:
        message = self.redact(str(args["message"]))
        return ToolResult("message sent", say=message)

    async def _ask_user(self, args: dict[str, Any]) -> ToolResult:
        question = self.redact(str(args["question"]))
        return ToolResult("question sent; the user's answer will arrive as their next message", say=question, wait=True)

    async def _attach_file(self, args: dict[str, Any]) -> ToolResult:
        path = self._path(args["path"])
        if not path.is_file():
            raise ToolError(f"{args['path']!r} is not a file")
        if path.stat().st_size > MAX_FILE_BYTES * 5:
            raise ToolError("the file is too large to attach")
        name = str(args.get("name") or path.name)
        url = await self.journal.attach(name, path.read_bytes())
        kind = mimetypes.guess_type(name)[0] or "file"
        return ToolResult(f"attached {name} ({kind}): {url}")

    async def _submit(self, args: dict[str, Any]) -> ToolResult:
        assert self.output_schema is not None
        output = args["output"]
        try:
            jsonschema.Draft7Validator(self.output_schema).validate(output)
        except jsonschema.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ToolError(f"the output does not match the schema at {path}: {exc.message}") from exc
        except (jsonschema.SchemaError, referencing.exceptions.Unresolvable, RecursionError) as exc:
            raise ToolError(f"the session's schema cannot check the output: {type(exc).__name__}") from exc
        await self.journal.set_structured_output(output)
        return ToolResult(
            "structured output stored", [AgentEvent("structured_output", "other", "structured output submitted")]
        )


def _text_before(path: Path) -> str | None:
    """A file's text before it is overwritten, for the diff; ``None`` for a binary or unreadable file."""
    try:
        return path.read_text() if path.is_file() and path.stat().st_size <= MAX_FILE_BYTES else None
    except (OSError, UnicodeDecodeError):
        return None
