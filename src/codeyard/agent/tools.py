"""The agent's tools (contract §5): shell, files, talking to the user, attachments, structured output.

File tools work on the host side of the workspace, confined to it: a path that leaves the workspace,
directly or through a symlink, is refused.
"""

import asyncio
import json
import mimetypes
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol

import jsonschema
import referencing.exceptions

from codeyard.agent import output_schema
from codeyard.agent.diffs import unified
from codeyard.agent.journal import AgentEvent, Journal
from codeyard.agent.model import ToolCall, ToolSpec
from codeyard.agent.recall import KnowledgeSource, shown
from codeyard.sandbox import Sandbox, SandboxError, confine

MAX_READ_CHARS = 60_000
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_OUTPUT_CHARS = 100_000
"""Most characters of one tool result that are kept (and stored); ``CODEYARD_MAX_TOOL_OUTPUT_CHARS``."""


def cap(text: str, limit: int, what: str) -> str:
    """``text`` whole when it fits ``limit`` characters, else its start and end with the cut marked between them."""
    if len(text) <= limit:
        return text
    widest = f"\n[… {what} cut: {len(text):,} of {len(text):,} characters left out here …]\n"
    keep = max(0, limit - len(widest))
    marker = f"\n[… {what} cut: {len(text) - keep:,} of {len(text):,} characters left out here …]\n"
    head = keep - keep // 4
    return text[:head] + marker + (text[len(text) - keep // 4 :] if keep // 4 else "")


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


class PullRequestOpener(Protocol):
    """Pushes a repository's commits and opens (or updates) its pull request, outside the sandbox (the runner)."""

    async def open_pull_request(self, repo: str, title: str, body: str, base: str | None, draft: bool) -> str:
        """What happened, for the model; ``ToolError`` with what to do when it cannot be done."""
        ...


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
        knowledge: KnowledgeSource | None = None,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        pull_requests: PullRequestOpener | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.pull_requests = pull_requests
        self.workspace = sandbox.workspace.resolve()
        self.journal = journal
        # Bytecode caches go stale when a file is edited twice within a second with the same size.
        self.env = {"PYTHONDONTWRITEBYTECODE": "1", **env}
        self.redact = redact
        self.command_timeout = command_timeout
        self.output_schema = output_schema
        self.knowledge = knowledge
        self.max_output_chars = max_output_chars
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
        if knowledge is not None:
            self._handlers["recall_knowledge"] = self._recall_knowledge
        if pull_requests is not None:
            self._handlers["open_pull_request"] = self._open_pull_request

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
        if self.knowledge is not None:
            specs.append(
                ToolSpec(
                    "recall_knowledge",
                    "Open a note of the team's knowledge: give a note id or name from the knowledge index of your "
                    "instructions, or describe what you need to find the best notes.",
                    _obj(
                        {"note": {"type": "string", "description": "a note id, a note name, or a few words"}}, ["note"]
                    ),
                )
            )
        if self.pull_requests is not None:
            specs.append(
                ToolSpec(
                    "open_pull_request",
                    "Push a repository's commits to a new branch and open (or update) its pull request. Commit "
                    "your work first (git add -A && git commit -m ...); uncommitted changes are refused. `repo` is "
                    "the repository as the task named it, or its directory in the workspace; `base` defaults to "
                    "the branch the repository was cloned on. Calling it again updates the same branch and PR.",
                    _obj(
                        {"repo": _STR, "title": _STR, "body": _STR, "base": _STR, "draft": {"type": "boolean"}},
                        ["repo", "title", "body"],
                    ),
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
        except OSError as exc:  # a directory, a loop, a full disk: the model can act on it, the session goes on
            result = ToolResult(f"error: {call.name} failed: {exc.strerror or type(exc).__name__}")
        result.text = cap(self.redact(result.text), self.max_output_chars, "tool output")
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

    def _path(self, relative: object) -> PurePosixPath:
        """The path relative to the workspace; every file operation then goes through ``sandbox.confine``, which
        refuses symlinks, hard links and escapes (also those swapped in while it works)."""
        if not isinstance(relative, str) or not relative.strip():
            raise ToolError("`path` must be a non-empty string")
        raw = self._relative(relative.strip())
        if raw.startswith("/") or ".." in PurePosixPath(raw).parts:
            raise ToolError(f"{relative!r} is outside the workspace")
        return PurePosixPath(os.path.normpath(raw))

    def _text_before(self, path: PurePosixPath) -> str | None:
        """A file's text before it is overwritten, for the diff; ``None`` when there is none, or it is binary,
        too large or not a plain file (read through ``confine`` like every other file operation)."""
        try:
            return confine.read_bytes(self.workspace, path, max_bytes=MAX_FILE_BYTES).decode()
        except (OSError, UnicodeDecodeError, confine.ConfinementError):
            return None

    def _shown(self, path: PurePosixPath) -> str:
        return str(path) or "."

    # -- tools ---------------------------------------------------------------------------------------------
    async def _run_command(self, args: dict[str, Any]) -> ToolResult:
        command = str(args["command"])
        timeout = min(float(args.get("timeout") or self.command_timeout), self.command_timeout)
        cwd = self._relative(str(args["cwd"]).strip()) if args.get("cwd") else None
        result = await self.sandbox.run(command, timeout=timeout, env=self.env, cwd=None if cwd == "." else cwd)
        if result.timed_out:
            status = f"timed out after {timeout:g} s and was killed"
        elif result.cancelled or result.exit_code is None:
            status = "was stopped"
        else:
            status = f"exit code {result.exit_code}"
        text = f"[{status}]\n{result.output}"
        if result.error:
            text += f"\n[error: {result.error}]"
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
        try:
            data = confine.read_bytes(self.workspace, path, max_bytes=MAX_FILE_BYTES)
        except confine.ConfinementError as exc:
            if "larger than" in str(exc):
                raise ToolError("the file is too large to read whole: use run_command with head/sed/grep") from exc
            raise
        lines = data.decode(errors="replace").splitlines(keepends=True)
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
        before = self._text_before(path)
        existed = confine.write_bytes(self.workspace, path, content.encode())
        verb = "updated" if existed else "created"
        shown = self._shown(path)
        details = {"path": shown, "bytes": len(content.encode()), "diff": unified(shown, before or "", content)}
        return ToolResult(
            f"{verb} {shown} ({len(content.encode())} bytes)",
            [AgentEvent(f"file_{verb}", "file", f"{verb} {shown}", details)],
        )

    async def _edit_file(self, args: dict[str, Any]) -> ToolResult:
        path = self._path(args["path"])
        old, new = str(args["old"]), str(args["new"])
        if not old:
            raise ToolError("`old` must not be empty")
        text = confine.read_bytes(self.workspace, path, max_bytes=MAX_FILE_BYTES).decode()
        count = text.count(old)
        if count == 0:
            raise ToolError("`old` was not found in the file; read the file and copy the text exactly")
        if count > 1 and not args.get("replace_all"):
            raise ToolError(f"`old` occurs {count} times; add context to make it unique or set replace_all")
        after = text.replace(old, new)
        confine.write_bytes(self.workspace, path, after.encode())
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
        try:
            data = confine.read_bytes(self.workspace, path, max_bytes=MAX_FILE_BYTES * 5)
        except confine.ConfinementError as exc:
            if "larger than" in str(exc):
                raise ToolError("the file is too large to attach") from exc
            raise
        name = str(args.get("name") or path.name)
        url = await self.journal.attach(name, data)
        kind = mimetypes.guess_type(name)[0] or "file"
        return ToolResult(f"attached {name} ({kind}): {url}")

    async def _submit(self, args: dict[str, Any]) -> ToolResult:
        assert self.output_schema is not None
        output = args["output"]
        try:
            # RE2 keeps user patterns linear; the thread keeps a large output off the event loop
            await asyncio.to_thread(output_schema.validate, self.output_schema, output)
        except jsonschema.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ToolError(f"the output does not match the schema at {path}: {exc.message}") from exc
        except (jsonschema.SchemaError, referencing.exceptions.Unresolvable, RecursionError) as exc:
            raise ToolError(f"the session's schema cannot check the output: {type(exc).__name__}") from exc
        await self.journal.set_structured_output(output)
        return ToolResult(
            "structured output stored", [AgentEvent("structured_output", "other", "structured output submitted")]
        )

    async def _recall_knowledge(self, args: dict[str, Any]) -> ToolResult:
        assert self.knowledge is not None
        request = str(args["note"]).strip()
        if not request:
            raise ToolError("`note` must name a note or describe what you need")
        notes = await self.knowledge.recall(request[:2000])
        if not notes:
            return ToolResult(f"no note of the team's knowledge matches {request[:200]!r}")
        events = [
            AgentEvent(
                "knowledge_used",
                "knowledge",
                f"note {note.name} (recalled)",
                {"note_id": note.note_id, "via": "recall_knowledge"},
            )
            for note in notes
        ]
        return ToolResult("\n\n".join(shown(note) for note in notes), events)

    async def _open_pull_request(self, args: dict[str, Any]) -> ToolResult:
        assert self.pull_requests is not None
        title = str(args["title"]).strip()
        if not title:
            raise ToolError("`title` must not be empty")
        base = str(args["base"]).strip() if args.get("base") else None
        text = await self.pull_requests.open_pull_request(
            str(args["repo"]).strip(), title[:250], str(args["body"])[:60_000], base, bool(args.get("draft", False))
        )
        return ToolResult(text)
