"""A finished change → its pull request open: ``open_pull_request`` (uncommitted check, secret scan,
push with the connection's credentials, the forge's API, the stored record) against a bare ``git push`` of one
commit to the same loopback git server, in the same run.

Real git over smart HTTP (``git http-backend`` behind basic auth) and the scripted GitHub forge on loopback;
the services run in-process on SQLite. Each run makes a fresh session with a fresh clone, commits A and times
``git push`` of it, then commits B and times ``open_pull_request`` (which pushes B: one new commit each).

    PYTHONPATH=src:. .venv/bin/python benchmarks/pull_request.py --runs 20

``open_pull_request`` reports how long each of its steps took (``SessionPullRequests.timings``); their medians are
printed as ``step …``. Steps run partly at once: ``read commits`` and ``scan`` overlap the status check, whose wait
(if longer) is ``checks``.
"""

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks._runtime import machine, median, pct
from codeyard.cli.server import prepare
from codeyard.config import Settings
from codeyard.runner import clone, workspace
from codeyard.runner.pull_request import SessionPullRequests
from codeyard.runner.redaction import Redactor
from codeyard.runner.remotes import CloneAuth, auth_env
from codeyard.services.git_connections import ConnectionSpec
from codeyard.services.pull_requests import RepoSpec
from codeyard.services.sessions import NewSession
from tests.fakes.forge_server import ForgeServer
from tests.fakes.git_http import GitHttpServer

TOKEN = "ghp_" + "BenchBenchBench0123456789abcdefABCDEF"
IDENTITY = {"GIT_AUTHOR_NAME": "B", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "B", "GIT_COMMITTER_EMAIL": "b@x"}


def commit(repo: Path, name: str) -> None:
    env = {**os.environ, **IDENTITY}
    (repo / name).write_text(f"{name}\n" * 20)
    subprocess.run(["git", "-C", str(repo), "add", name], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", f"Add {name}"], check=True, env=env)


async def run(runs: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="codeyard-bench-pr-"))
    with GitHttpServer(tmp / "git", TOKEN) as git_server, ForgeServer(TOKEN) as forge:
        git_server.create_repo("owner/app", {"README.md": "bench\n"})
        settings = Settings(data_dir=tmp / "data", secret_key="bench", runner_enabled=False, scheduler_enabled=False)
        db, services = await prepare(settings)
        boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
        principal = await services.identity.authenticate(boot["org_api_key"])
        org = boot["org_id"]
        await services.git_connections.create(
            principal.service_user_id,
            org,
            ConnectionSpec(git_server.host, "github", f"{forge.url}/github", None, TOKEN),
        )
        auth = CloneAuth(await services.git_connections.for_org(org))
        bare_push: list[float] = []
        full: list[float] = []
        steps: dict[str, list[float]] = {}
        for i in range(runs):
            session = await services.sessions.create(principal, org, NewSession(prompt="bench", repos=["owner/app"]))
            root = settings.data_dir / "workspaces" / session.id
            ws = await workspace.prepare(
                root,
                ["owner/app"],
                [],
                git_base_url=git_server.url,
                allow_local=False,
                policy=clone.ClonePolicy(allow_private=True),
                auth=auth,
            )
            repo = ws.repos["owner/app"]
            base = (await workspace.git("rev-parse", "HEAD", cwd=repo)).strip()
            await services.pull_requests.record_repos(session.id, [RepoSpec(0, "owner/app", repo.name, base, "main")])
            opener = SessionPullRequests(
                session_id=session.id,
                org_id=org,
                root=root,
                pull_requests=services.pull_requests,
                auth=auth,
                urls={"owner/app": f"{git_server.url}/owner/app"},
                redact=Redactor(auth.secrets().items()),
                known_secrets=auth.secrets(),
            )
            commit(repo, f"a{i}.txt")
            env = {**os.environ, **auth_env(auth.connections[git_server.host])}
            started = time.perf_counter()
            subprocess.run(
                ["git", "-C", str(repo), "push", "-q", f"{git_server.url}/owner/app", f"HEAD:refs/heads/bare-{i}"],
                check=True,
                env=env,
            )
            bare_push.append(time.perf_counter() - started)
            commit(repo, f"b{i}.txt")
            started = time.perf_counter()
            text = await opener.open_pull_request("owner/app", f"Change {i}", "A benchmark change.", None, False)
            full.append(time.perf_counter() - started)
            assert "opened pull request" in text, text
            for step, seconds in getattr(opener, "timings", {}).items():  # older trees have no step timings
                steps.setdefault(step, []).append(seconds)
        await db.dispose()
    overhead = [f - b for f, b in zip(full, bare_push, strict=True)]
    return {
        "bare_push_p50": median(bare_push),
        "bare_push_p90": pct(bare_push, 0.9),
        "open_pull_request_p50": median(full),
        "open_pull_request_p90": pct(full, 0.9),
        "overhead_p50": median(overhead),
        **{f"step {name}": median(values) for name, values in steps.items()},
        "runs": float(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(run(args.runs))
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f} at the end")
    for name, value in result.items():
        print(f"{name:26} {value * 1000:9.1f} ms" if name != "runs" else f"{name:26} {int(value):9d}")


if __name__ == "__main__":
    main()
