"""One claimed session from its stored state to the next rest point: prepare, run one agent turn, settle."""

import asyncio
import functools
import re
import time
from pathlib import Path

import structlog

from codeyard.agent.history import pending_calls
from codeyard.agent.loop import INTERRUPTED, Agent, AgentConfig, Outcome
from codeyard.agent.model import Message, Model, ModelError
from codeyard.agent.tools import Toolbox
from codeyard.config import Settings
from codeyard.handoff.apply import HandoffApplyError, apply_handoff, parse_manifest
from codeyard.runner import checkpoint, clone, context, instructions, remotes, session_git, workspace
from codeyard.runner.journal import DbJournal
from codeyard.runner.knowledge import SessionKnowledge
from codeyard.runner.redaction import Redactor
from codeyard.sandbox import SANDBOX_WORKSPACE, Sandbox, SandboxError, SandboxLimits, confine, create_sandbox
from codeyard.services.container import Services
from codeyard.services.runs import ACU_SECONDS, LeaseLostError
from codeyard.services.workspace_git import WorkspaceGitError
from codeyard.storage.tables import AgentSessionRow

log = structlog.get_logger("codeyard.runner")
UNCOUNTED_REMAINDER_S = 0.5
"""Working time left after a run's last count (the outcome was counted just before it was stored) is written only
from this long: a remainder of milliseconds is not worth a locked write at the end of every run (ACUs are counted
in seconds of 900)."""

NO_MODEL = (
    "I cannot start: no model is configured on this server. An administrator must set CODEYARD_MODEL "
    "(for example openai:gpt-4o-mini or anthropic:claude-sonnet-4-5) and CODEYARD_MODEL_API_KEY, plus "
    "CODEYARD_MODEL_BASE_URL for a local or other compatible server (e.g. http://127.0.0.1:11434/v1 for Ollama), "
    "then you can send a message to retry."
)


async def local_repos_allowed(settings: Settings, services: Services) -> bool:
    """``CODEYARD_ALLOW_LOCAL_REPOS`` when set; else only in the embedded (SQLite) mode with one organization, since
    a local path names the host's files, which every organization would reach."""
    if settings.allow_local_repos is not None:
        return settings.allow_local_repos
    return settings.local_repos_allowed and len(await services.identity.list_orgs()) <= 1


_ENDPOINT = re.compile(r"the model at \S+")


def sandbox_limits(settings: Settings) -> SandboxLimits:
    """The per-command limits the settings ask for (the rest keep their defaults)."""
    return SandboxLimits(
        cgroup_memory_bytes=settings.sandbox_memory_bytes,
        cpus=settings.sandbox_cpus,
        tmp_bytes=settings.sandbox_tmp_bytes,
        workspace_max_bytes=settings.workspace_max_bytes,
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
        self.interrupt: str | None = None
        """Set (to a reason) to make the agent stop after its step in flight and give the session back."""

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
            log.warning("model failed", session_id=sid, error=str(exc))
            await self.runs.fail(sid, self.runner_id, f"I had to stop: the model failed. {self._scrub(str(exc))}")
        except (workspace.WorkspaceError, SandboxError, HandoffApplyError, WorkspaceGitError) as exc:
            await self.runs.fail(sid, self.runner_id, f"I could not prepare the workspace: {exc}")
        except Exception as exc:  # the process edge of one session: record it, keep the runner alive
            log.exception("session crashed", session_id=sid)
            await self.runs.fail(
                sid, self.runner_id, f"I had to stop because of an internal error ({type(exc).__name__})."
            )
        finally:
            if self.sandbox is not None:
                await self.sandbox.kill_all()
            if time.monotonic() - self._counted >= UNCOUNTED_REMAINDER_S:
                await asyncio.shield(self.count_time())

    def _scrub(self, text: str) -> str:
        """A model error as the user sees it: without the model's address (an internal URL, perhaps with a key)."""
        if self.settings.model_base_url:
            text = text.replace(self.settings.model_base_url.rstrip("/"), "the model server")
        return _ENDPOINT.sub("the model", text)

    async def _run(self) -> None:
        sid, row = self.row.id, self.row
        if self.model is None:
            await self.runs.fail(sid, self.runner_id, self._scrub(self.model_problem or NO_MODEL))
            return
        secrets = await self.services.secrets.resolve(row.org_id, row.secret_ids)
        pairs = [(s.key, s.value, s.is_sensitive) for s in secrets]
        pairs += [(s["key"], s["value"], bool(s.get("sensitive", True))) for s in self.runs.session_secrets(row)]
        env = {key: value for key, value, _ in pairs}
        auth = remotes.CloneAuth(await self.services.git_connections.for_org(row.org_id))
        redact = Redactor([*((key, value) for key, value, sensitive in pairs if sensitive), *auth.secrets().items()])
        budget = await self.services.consumption.session_budget(row)
        journal = DbJournal(
            self.runs, sid, row.org_id, self.runner_id, redact, budget, self.acus, lambda: self.interrupt
        )

        restored = None
        if self.settings.checkpoints_enabled and not self.root.exists():  # moved here: the last checkpoint
            restored = await checkpoint.restore(self.services.blobs, self.root, self.spool, sid)
        files = [(att.name, Path(path)) for att, path in await self.runs.user_attachments(sid)]
        ws = await workspace.prepare(
            self.root,
            list(row.repos),
            files,
            git_base_url=self.settings.git_base_url,
            allow_local=await local_repos_allowed(self.settings, self.services),
            data_dir=self.settings.data_dir,
            policy=clone.ClonePolicy(
                allow_private=self.settings.clone_allow_private,
                timeout=self.settings.clone_timeout,
                max_bytes=self.settings.clone_max_bytes,
            ),
            auth=auth,
        )
        await session_git.record_repos(self.services, self.row, ws)
        self.sandbox = create_sandbox(
            self.root,
            network=self.settings.sandbox_network,
            backend=self.settings.sandbox_backend,
            hidden_paths=[self.settings.data_dir],
            limits=sandbox_limits(self.settings),
            uid=self.settings.sandbox_uid,
            gid=self.settings.sandbox_gid,
        )
        system = await journal.system_prompt()
        if system is None:
            extra, handoff_repo = await self._apply_handoff(ws)
            view = str(SANDBOX_WORKSPACE) if self.sandbox.backend == "bwrap" else str(self.root)
            repo_dirs = list(dict.fromkeys([*ws.repos.values(), *([handoff_repo] if handoff_repo else [])]))
            found = await asyncio.to_thread(instructions.collect, repo_dirs, self.root)
            built = await context.build(
                row,
                self.services,
                view,
                ws.repos,
                ws.files,
                self.root,
                list(env),
                extra,
                instructions=found,
                handoff_repo=handoff_repo,
            )
            system = built.system
            await journal.record_system(system, built.events)
        await self.runs.start(sid, self.runner_id)
        env = {**session_git.git_identity(self.settings.git_author), **env}
        sensitive = {key: value for key, value, is_sensitive in pairs if is_sensitive}
        opener = session_git.opener(self.settings, self.services, row, ws, auth, redact, sensitive)
        if restored is not None:
            await self._tell_moved(journal, restored, row.history_length)
        tools = Toolbox(
            self.sandbox,
            journal,
            env=env,
            redact=redact,
            command_timeout=self.settings.command_timeout,
            output_schema=row.structured_output_schema,
            knowledge=SessionKnowledge(self.services.knowledge, row.org_id, row.repos)
            if row.knowledge_ids is None
            else None,
            max_output_chars=self.settings.max_tool_output_chars,
            pull_requests=opener,
        )
        agent = Agent(
            self.model,
            tools,
            journal,
            system=system,
            config=AgentConfig(max_steps=self.settings.max_steps, max_reply_chars=self.settings.max_reply_chars),
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
            await self.count_time()  # store the ACUs that reached the limit before the status says so
            await self.runs.suspend_usage(
                sid,
                self.runner_id,
                f"I paused: this session reached its limit of {budget or 0:g} ACUs (the session's own limit or what is "
                "left of its organization's ACU limits). Send a message to continue.",
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

    async def _tell_moved(self, journal: DbJournal, step: int, history_length: int) -> None:
        """Tell the agent its workspace came from a checkpoint that may miss some of its work (a step after the
        checkpoint, or a tool call cut off by the move, which is closed first).

        Nothing is said after a clean hand-back (a worker's SIGTERM, a rest point): the checkpoint was taken after
        the last step, so the workspace is exactly as the agent left it."""
        history = await journal.history()
        cut = pending_calls(history)
        if not cut and step >= history_length:
            log.info("workspace restored from a checkpoint", session_id=self.row.id, step=step, complete=True)
            return
        closed = [Message("tool", INTERRUPTED, tool_call_id=call.id) for call in cut]
        await journal.record([*closed, Message("user", checkpoint.moved_note(step))])
        log.info("workspace restored from a checkpoint", session_id=self.row.id, step=step, complete=False)

    async def _apply_handoff(self, ws: workspace.Workspace) -> tuple[list[str], Path | None]:
        """A ``codeyard handoff`` session: rebuild the user's work tree in its repository before the agent starts;
        what was done, and the repository's directory."""
        manifest = parse_manifest(self.row.prompt)
        if manifest is None:
            return [], None
        repo_dir = ws.repos.get(manifest.remote_url or "") if manifest.remote_url else None
        if repo_dir is None:
            repo_dir = self.root / "repo"
            with confine.open_dir(self.root, "repo", create=True):
                pass  # made without following a link planted where it belongs
        files = {path.name: path for path in ws.files}
        apply = functools.partial(apply_handoff, max_bundle_bytes=self.settings.bundle_max_bytes)
        return await asyncio.to_thread(apply, repo_dir, manifest, files), repo_dir
