"""The plain-subprocess fallback: same contract, host paths."""

from pathlib import Path

from codeyard.sandbox import create_sandbox


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
