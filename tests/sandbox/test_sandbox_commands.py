"""Properties both backends provide: each test runs under bubblewrap and as a plain subprocess."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codeyard.sandbox import Sandbox, SandboxError, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree

SandboxFactory = Callable[..., Sandbox]

PYTHON = "/usr/bin/python3"
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(not Path(PYTHON).exists(), reason=f"the limit tests allocate with {PYTHON}")


async def test_output_and_exit_codes(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox()

    ok = await sandbox.run("echo out; echo err >&2", timeout=10)
    failed = await sandbox.run("exit 3", timeout=10)
    signalled = await sandbox.run("kill -KILL $$", timeout=10)

    assert (ok.exit_code, ok.output, ok.timed_out, ok.cancelled, ok.truncated) == (0, "out\nerr\n", False, False, False)
    assert failed.exit_code == 3
    assert signalled.exit_code == 128 + 9


async def test_environment_is_clean_plus_given_variables(
    make_sandbox: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEYARD_SANDBOX_LEAK_PROBE", "leaked-from-server")
    sandbox = make_sandbox()

    result = await sandbox.run("env", timeout=10, env={"API_TOKEN": "tok-123"})

    variables = dict(line.split("=", 1) for line in result.output.splitlines())
    assert "leaked-from-server" not in result.output
    assert variables["API_TOKEN"] == "tok-123"
    assert variables["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert (variables["LANG"], variables["TERM"]) == ("C.UTF-8", "dumb")
    assert set(variables) <= {"API_TOKEN", "PATH", "HOME", "LANG", "TERM", "PWD", "SHLVL", "_"}


async def test_invalid_variable_name_is_refused_without_echoing_the_value(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox()

    with pytest.raises(SandboxError) as raised:
        await sandbox.run("true", timeout=10, env={"BAD=NAME": "value-not-to-log"})

    assert "value-not-to-log" not in str(raised.value)


async def test_files_written_in_the_workspace_appear_on_the_host(make_sandbox: SandboxFactory, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    sandbox = make_sandbox()

    result = await sandbox.run("echo hello > made.txt && pwd > where.txt", timeout=10, cwd="sub")

    assert result.exit_code == 0
    assert (workspace / "sub" / "made.txt").read_text() == "hello\n"
    assert (workspace / "sub" / "where.txt").read_text().strip().endswith("/sub")


@pytest.mark.parametrize("cwd", ["..", "../elsewhere", "sub/../..", "/etc", "escape", "missing"])
async def test_working_directory_outside_the_workspace_is_refused(
    make_sandbox: SandboxFactory, workspace: Path, cwd: str
) -> None:
    (workspace / "sub").mkdir()
    (workspace / "escape").symlink_to(workspace.parent)
    sandbox = make_sandbox()

    with pytest.raises(SandboxError):
        await sandbox.run("touch planted", timeout=10, cwd=cwd)

    assert not (workspace.parent / "planted").exists()


async def test_long_output_keeps_head_and_tail_with_a_marker(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(limits=SandboxLimits(max_output_bytes=1000))

    result = await sandbox.run("printf START; head -c 10000 /dev/zero | tr '\\0' x; printf END", timeout=10)

    assert result.truncated
    assert result.output.startswith("START")
    assert result.output.endswith("END")
    assert "\n[... 9008 bytes truncated ...]\n" in result.output
    assert len(result.output) == 1000 + len("\n[... 9008 bytes truncated ...]\n")


async def test_timeout_kills_the_command_and_its_children(make_sandbox: SandboxFactory, sleeper: Any) -> None:
    sandbox = make_sandbox()

    result = await sandbox.run(f"{sleeper.command} & echo started; {sleeper.command}; wait", timeout=1)

    assert (result.timed_out, result.exit_code, result.cancelled) == (True, None, False)
    assert "started" in result.output
    assert sleeper.survivors() == []


async def test_background_processes_do_not_outlive_their_command(make_sandbox: SandboxFactory, sleeper: Any) -> None:
    sandbox = make_sandbox()

    result = await sandbox.run(f"{sleeper.command} > /dev/null 2>&1 & echo left", timeout=10)

    assert (result.exit_code, result.output, result.timed_out) == (0, "left\n", False)
    assert sleeper.survivors() == []


async def test_cancelling_the_awaiting_task_kills_the_command(make_sandbox: SandboxFactory, sleeper: Any) -> None:
    sandbox = make_sandbox()
    task = asyncio.create_task(sandbox.run(f"{sleeper.command} & {sleeper.command}; wait", timeout=60))
    await sleeper.wait_running(2)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert sleeper.survivors() == []


async def test_kill_all_stops_every_running_command(make_sandbox: SandboxFactory, sleeper: Any) -> None:
    sandbox = make_sandbox()
    runs = [asyncio.create_task(sandbox.run(f"{sleeper.command} & wait", timeout=60)) for _ in range(2)]
    await sleeper.wait_running(2)

    await sandbox.kill_all()

    results = await asyncio.gather(*runs)
    assert [(result.cancelled, result.exit_code, result.timed_out) for result in results] == [(True, None, False)] * 2
    assert sleeper.survivors() == []


async def test_memory_limit_stops_a_large_allocation(make_sandbox: SandboxFactory) -> None:
    allocate = f"{PYTHON} -c 'bytearray({512 * MIB}); print(\"allocated\")'"
    limited = make_sandbox(limits=SandboxLimits(memory_bytes=256 * MIB))
    unlimited = make_sandbox()

    refused = await limited.run(allocate, timeout=30)
    allowed = await unlimited.run(allocate, timeout=30)

    assert refused.exit_code != 0
    assert "MemoryError" in refused.output
    assert (allowed.exit_code, allowed.output) == (0, "allocated\n")


async def test_file_size_limit_stops_a_large_write(make_sandbox: SandboxFactory, workspace: Path) -> None:
    sandbox = make_sandbox(limits=SandboxLimits(max_file_bytes=MIB))

    refused = await sandbox.run(f"head -c {2 * MIB} /dev/zero > big.bin", timeout=30)
    allowed = await sandbox.run(f"head -c {MIB // 2} /dev/zero > small.bin", timeout=30)

    assert refused.exit_code not in (0, None)
    assert (workspace / "big.bin").stat().st_size == MIB
    assert allowed.exit_code == 0
    assert (workspace / "small.bin").stat().st_size == MIB // 2


FORK_UNTIL_REFUSED = """
import os, sys, time
started = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        started += 1
except BlockingIOError:
    print("refused after", started)
    sys.exit(3)
print("started", started)
"""


@pytest.mark.usefixtures("process_limit")
async def test_process_limit_refuses_a_fork_beyond_it(make_sandbox: SandboxFactory, workspace: Path) -> None:
    (workspace / "fork.py").write_text(FORK_UNTIL_REFUSED)
    sandbox = make_sandbox(limits=SandboxLimits(max_processes=32))

    result = await sandbox.run(f"{PYTHON} fork.py", timeout=30)

    assert result.exit_code == 3, result.output
    started = int(result.output.split()[-1])
    assert 0 < started < 32


@pytest.mark.usefixtures("process_limit")
async def test_process_limit_counts_each_command_apart(make_sandbox: SandboxFactory, backend: str) -> None:
    """The limit is per command: commands running side by side each get the whole allowance."""
    if backend == "local" and CgroupTree.find() is None:
        pytest.skip("without a pids cgroup the local backend's RLIMIT_NPROC counts every process of the user")
    sandbox = make_sandbox(limits=SandboxLimits(max_processes=16))
    spawn = "for i in $(seq 8); do sleep 0.5 & done; wait; echo done"

    results = await asyncio.gather(*(sandbox.run(spawn, timeout=30) for _ in range(3)))

    assert [(result.exit_code, result.output) for result in results] == [(0, "done\n")] * 3
