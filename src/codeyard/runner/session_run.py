"""One claimed session from its stored state to the next rest point: prepare, run one agent turn, settle."""

import asyncio
import time
from pathlib import Path

import structlog

from codeyard.agent.history import pending_calls
from codeyard.agent.loop import INTERRUPTED, Agent, AgentConfig, Outcome
from codeyard.agent.model import Message, Model, ModelError
from codeyard.agent.tools import Toolbox
from codeyard.config import Settings
from codeyard.handoff.apply import HandoffApplyError, apply_handoff, parse_manifest
from codeyard.runner import checkpoint, context, workspace
from codeyard.runner.journal import DbJournal
from codeyard.runner.redaction import Redactor
from codeyard.sandbox import SANDBOX_WORKSPACE, Sandbox, SandboxError, create_sandbox
from codeyard.services.container import Services
from codeyard.services.runs import ACU_SECONDS, LeaseLostError
from codeyard.storage.tables import AgentSessionRow

log = structlog.get_logger("codeyard.runner")

NO_MODEL = (
    "I cannot start: no model is configured on this server. An administrator must set CODEYARD_MODEL "
    "(for example openai:gpt-4o-mini or anthropic:claude-sonnet-4-5) and CODEYARD_MODEL_API_KEY, then you "
    "can send a message to retry."
)


class SessionRun:
    def __init__(
        self,
        settings: Settings,
        services: Services,
        model: Model | None,
        model_problem: str | None,
        runner_id: str,
        row: AgentSessionRow,
    ) -> None:
        self.settings = settings
        self.services = services
        self.runs = services.runs
        self.model = model
        self.model_problem = model_problem
        self.runner_id = runner_id
        self.row = row
        self.sandbox: Sandbox | None = None
        self._counted = time.monotonic()
        self._acus = row.acus_consumed

    @property
    def root(self) -> Path:
        return self.settings.data_dir / "workspaces" / self.row.id

    def acus(self) -> float:
        """ACUs consumed so far, including the time not yet written to the database."""
        return self._acus + (time.monotonic() - self._counted) / ACU_SECONDS

    async def count_time(self) -> None:
        """Add the working time since the last count, so ``acus_consumed`` stays current while it works."""
        now = time.monotonic()
        elapsed, self._counted = now - self._counted, now
        self._acus = await self.runs.add_working_time(self.row.id, elapsed)

    async def run(self) -> None:
        sid = self.row.id
        self._counted = time.monotonic()
        try:
            await self._run()
        except asyncio.CancelledError:
            if self.sandbox is not None:
                await self.sandbox.kill_all()
            await asyncio.shield(self.checkpoint())  # stopped or shutting down: keep the workspace for the next
            await asyncio.shield(self.runs.release(sid, self.runner_id))
            raise
        except LeaseLostError:
            log.info("session taken over or stopped", session_id=sid)
        except ModelError as exc:
            await self.runs.fail(sid, self.runner_id, f"I had to stop: the model failed. {exc}")
        except (workspace.WorkspaceError, SandboxError, HandoffApplyError) as exc:
            await self.runs.fail(sid, self.runner_id, f"I could not prepare the workspace: {exc}")
        except Exception as exc:  # the process edge of one session: record it, keep the runner alive
            log.exception("session crashed", session_id=sid)
            await self.runs.fail(
                sid, self.runner_id, f"I had to stop because of an internal error ({type(exc).__name__})."
            )
        finally:
            if self.sandbox is not None:
                await self.sandbox.kill_all()
            await asyncio.shield(self.count_time())

    async def _run(self) -> None:
        sid, row = self.row.id, self.row
        if self.model is None:
            await self.runs.fail(sid, self.runner_id, self.model_problem or NO_MODEL)
            return
        secrets = await self.services.secrets.resolve(row.org_id, row.secret_ids)
        pairs = [(s.key, s.value, s.is_sensitive) for s in secrets]
        pairs += [(s["key"], s["value"], bool(s.get("sensitive", True))) for s in self.runs.session_secrets(row)]
        env = {key: value for key, value, _ in pairs}
        redact = Redactor((key, value) for key, value, sensitive in pairs if sensitive)
        journal = DbJournal(self.runs, sid, row.org_id, self.runner_id, redact, row.max_acu_limit, self.acus)

        restored = None
        if self.settings.checkpoints_enabled and not self.root.exists():  # moved here: the last checkpoint
            restored = await checkpoint.restore(self.services.blobs, self.root, self.spool, sid)
        files = [(att.name, Path(path)) for att, path in await self.runs.user_attachments(sid)]
        ws = await workspace.prepare(
            self.root,
            list(row.repos),
            files,
            git_base_url=self.settings.git_base_url,
            allow_local=self.settings.local_repos_allowed,
            data_dir=self.settings.data_dir,
        )
        self.sandbox = create_sandbox(
            self.root,
            network=self.settings.sandbox_network,
            backend=self.settings.sandbox_backend,
            hidden_paths=[self.settings.data_dir],
        )
        system = await journal.system_prompt()
        if system is None:
            extra = await self._apply_handoff(ws)
            view = str(SANDBOX_WORKSPACE) if self.sandbox.backend == "bwrap" else str(self.root)
            built = await context.build(row, self.services, view, ws.repos, ws.files, self.root, list(env), extra)
            system = built.system
            await journal.record_system(system, built.events)
        await self.runs.start(sid, self.runner_id)
        if restored is not None:
            await self._tell_moved(journal, restored)
        tools = Toolbox(
            self.sandbox,
            journal,
            env=env,
            redact=redact,
            command_timeout=self.settings.command_timeout,
            output_schema=row.structured_output_schema,
        )
        agent = Agent(
            self.model,
            tools,
            journal,
            system=system,
            config=AgentConfig(max_steps=self.settings.max_steps),
            require_output=row.structured_output_schema is not None
            and row.request.get("structured_output_required", True) is not False,
        )
        timer = asyncio.create_task(self._checkpoint_timer()) if self.settings.checkpoints_enabled else None
        try:
            result = await agent.run_turn()
        finally:
            if timer is not None:
                timer.cancel()
        await self.checkpoint()  # a rest point (or a stop): the workspace as the agent left it
        await self.count_time()  # counted before the outcome is stored: a client seeing it sees the ACUs too
        if result.outcome == Outcome.FINISHED:
            await self.runs.finish(sid, self.runner_id, None)
        elif result.outcome == Outcome.WAITING:
            await self.runs.wait_for_user(sid, self.runner_id)
        elif journal.usage_exceeded:
            await self.runs.suspend_usage(
                sid,
                self.runner_id,
                f"I paused: this session reached its limit of {row.max_acu_limit:g} ACUs. Send a message to continue.",
            )
        else:
            await self.runs.release(sid, self.runner_id)

    @property
    def spool(self) -> Path:
        return self.settings.data_dir / "tmp"

    async def checkpoint(self) -> None:
        """Save the workspace to the blob store (distributed mode); a failure is logged, the session goes on."""
        if not self.settings.checkpoints_enabled:
            return
        try:
            step = (await self.runs.get(self.row.id)).history_length
            await checkpoint.save(self.services.blobs, self.root, self.spool, self.row.id, step)
        except Exception:
            log.exception("workspace checkpoint failed", session_id=self.row.id)

    async def _checkpoint_timer(self) -> None:
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval)
            await self.checkpoint()

    async def _tell_moved(self, journal: DbJournal, step: int) -> None:
        """Tell the agent its workspace came from a checkpoint: close any tool call cut off by the move first."""
        history = await journal.history()
        closed = [Message("tool", INTERRUPTED, tool_call_id=call.id) for call in pending_calls(history)]
        await journal.record([*closed, Message("user", checkpoint.moved_note(step))])
        log.info("workspace restored from a checkpoint", session_id=self.row.id, step=step)

    async def _apply_handoff(self, ws: workspace.Workspace) -> list[str]:
        """A ``codeyard handoff`` session: rebuild the user's work tree in its repository before the agent starts."""
        manifest = parse_manifest(self.row.prompt)
        if manifest is None:
            return []
        repo_dir = ws.repos.get(manifest.remote_url or "") if manifest.remote_url else None
        if repo_dir is None:
            repo_dir = self.root / "repo"
            repo_dir.mkdir(exist_ok=True)
        files = {path.name: path for path in ws.files}
        return await asyncio.to_thread(apply_handoff, repo_dir, manifest, files)
