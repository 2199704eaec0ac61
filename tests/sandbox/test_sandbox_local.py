"""The plain-subprocess fallback: same contract, host paths."""

import os
import subprocess
import sys
from pathlib import Path

from codeyard.sandbox import create_sandbox
from codeyard.sandbox.ownership import resolve_identity
from tests.sandbox.conftest import as_root


async def test_local_commands_run_in_the_host_workspace(workspace: Path) -> None:
    sandbox = create_sandbox(workspace, backend="local")

    result = await sandbox.run('pwd; echo "$HOME"', timeout=10)

    assert sandbox.backend == "local"
    assert result.output.split() == [str(workspace.resolve())] * 2


async def test_local_workspace_is_created_when_missing(tmp_path: Path) -> None:
    sandbox = create_sandbox(tmp_path / "new" / "workspace", backend="local")

    result = await sandbox.run("echo hi > file", timeout=10)

    assert result.exit_code == 0
    assert (tmp_path / "new" / "workspace" / "file").read_text() == "hi\n"


@as_root
async def test_local_commands_never_run_as_root(workspace: Path, root_only_file: Path) -> None:
    """A server running as root: the local backend runs commands as the sandbox's uid, with no groups."""
    identity = resolve_identity()
    sandbox = create_sandbox(workspace, backend="local")

    result = await sandbox.run(
        f"id -u; id -g; id -G; cat {root_only_file}; echo status=$?; touch made-here; echo end", timeout=10
    )

    lines = result.output.splitlines()
    assert lines[:3] == [str(identity.uid), str(identity.gid), str(identity.gid)]
    assert "root-only-secret" not in result.output
    assert "Permission denied" in result.output
    assert "status=1" in result.output
    assert lines[-1] == "end"
    made = (workspace / "made-here").stat()
    assert (made.st_uid, made.st_gid) == (identity.uid, identity.gid)


@as_root
async def test_local_commands_use_the_configured_uid_and_files_the_server_wrote(workspace: Path) -> None:
    (workspace / "sub").mkdir()
    (workspace / "sub" / "from-server.txt").write_text("server\n")
    sandbox = create_sandbox(workspace, backend="local", uid=64998, gid=64997)

    result = await sandbox.run("echo command >> sub/from-server.txt && id -u && id -g", timeout=10)

    assert (result.exit_code, result.output) == (0, "64998\n64997\n")
    assert (workspace / "sub" / "from-server.txt").read_text() == "server\ncommand\n"


async def test_local_commands_cannot_gain_privileges(workspace: Path) -> None:
    """No new privileges: a set-user-id program runs without its owner's rights, and the seccomp filter
    holds (the same one bubblewrap loads)."""
    sandbox = create_sandbox(workspace, backend="local")

    result = await sandbox.run(
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; unshare -U true; echo $?", timeout=10
    )

    assert result.output.splitlines()[:2] == ["NoNewPrivs:\t1", "Seccomp:\t2"]
    assert "Operation not permitted" in result.output
    assert result.output.splitlines()[-1] != "0"


REFUSAL_PROBE = """
import asyncio, pathlib, sys
from codeyard.sandbox import SandboxError, create_sandbox

async def main() -> None:
    sandbox = create_sandbox(pathlib.Path(sys.argv[1]), backend="local")
    try:
        result = await sandbox.run("id -u > ran-as", timeout=10)
    except SandboxError as exc:
        print("refused:", exc)
    else:
        print("ran:", result.exit_code)

asyncio.run(main())
"""


@as_root
def test_a_root_server_that_cannot_change_uid_refuses_commands(workspace: Path) -> None:
    """A root server without the right to change uid (no CAP_SETUID/CAP_SETGID, as in some containers)
    refuses to run commands instead of running them as root."""
    probe = subprocess.run(
        ["setpriv", "--bounding-set=-setuid,-setgid", "--", sys.executable, "-c", REFUSAL_PROBE, str(workspace)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
    )

    assert "refused: commands are refused rather than run as root" in probe.stdout, probe.stderr
    assert "CAP_SETUID" in probe.stdout
    assert not (workspace / "ran-as").exists()


@as_root
async def test_local_commands_reach_their_workspace_by_path_and_nothing_else_of_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "workspaces" / "other").mkdir(parents=True)
    (data / "workspaces" / "other" / "secret.txt").write_text("another session's file")
    (data / "codeyard.db").write_text("the database")
    data.chmod(0o700)
    mine = data / "workspaces" / "mine"
    sandbox = create_sandbox(mine, backend="local", hidden_paths=[data])

    written = await sandbox.run(f"echo here > {mine}/by-path.txt && cat {mine}/by-path.txt", timeout=10)
    listed = await sandbox.run(f"ls -A {data}; ls -A {data}/workspaces", timeout=10)
    read = await sandbox.run(f"cat {data}/workspaces/other/secret.txt {data}/codeyard.db", timeout=10)

    assert (written.exit_code, written.output) == (0, "here\n")
    assert (mine / "by-path.txt").read_text() == "here\n"
    assert listed.output.split() == ["workspaces", "mine"]
    assert "another session's file" not in read.output
    assert "the database" not in read.output
    assert read.output.count("No such file or directory") == 2
