"""Limits across a session's commands: memory of all its processes together and the workspace's size."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from codeyard.sandbox import Sandbox, SandboxLimits
from codeyard.sandbox.cgroup import CgroupTree

SandboxFactory = Callable[..., Sandbox]
MIB = 1024 * 1024
PYTHON = "/usr/bin/python3"


@pytest.fixture
def memory_cgroup() -> None:
    tree = CgroupTree.find()
    if tree is None or tree.memory is None:
        pytest.skip("no writable memory cgroup on this host")


@pytest.mark.usefixtures("memory_cgroup")
async def test_memory_of_all_processes_together_is_capped(make_sandbox: SandboxFactory) -> None:
    """Four processes of 48 MiB each stay under a per-process limit but not under the command's."""
    hog = f"{PYTHON} -c 'import time; b = bytearray(b\"x\") * {48 * MIB}; time.sleep(3)'"
    command = f"for i in 1 2 3 4; do {hog} & done; wait; echo finished"
    limits = SandboxLimits(cgroup_memory_bytes=96 * MIB, memory_bytes=512 * MIB)
    sandbox = make_sandbox(limits=limits)

    result = await sandbox.run(command, timeout=60)

    assert result.error is not None
    assert "memory limit of 96.0 MiB" in result.error
    assert "Killed" in result.output or result.exit_code != 0


async def test_a_command_that_fills_the_workspace_is_told_to_clean_up(
    make_sandbox: SandboxFactory, workspace: Path
) -> None:
    sandbox = make_sandbox(limits=SandboxLimits(workspace_max_bytes=2 * MIB))

    small = await sandbox.run(f"head -c {MIB} /dev/urandom > small.bin", timeout=30)
    grown = await sandbox.run(f"head -c {2 * MIB} /dev/urandom > big.bin", timeout=30)
    cleaned = await sandbox.run("rm big.bin", timeout=30)

    assert (small.exit_code, small.error) == (0, None)
    assert grown.error is not None
    assert "over its limit of 2.0 MiB" in grown.error
    assert "delete what is not needed" in grown.error
    assert (cleaned.exit_code, cleaned.error) == (0, None)


async def test_a_command_still_writing_past_the_cap_is_stopped(make_sandbox: SandboxFactory, workspace: Path) -> None:
    sandbox = make_sandbox(limits=SandboxLimits(workspace_max_bytes=2 * MIB))

    result = await sandbox.run(
        f"for i in $(seq 60); do head -c {MIB} /dev/urandom > part-$i.bin; sleep 0.5; done; echo finished",
        timeout=120,
    )

    assert result.exit_code is None
    assert not result.timed_out
    assert result.error is not None
    assert result.error.startswith("the command was stopped: the workspace grew to")
    assert "finished" not in result.output
    assert len(os.listdir(workspace)) < 60


async def test_hard_links_and_sparse_files_count_what_they_hold(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(limits=SandboxLimits(workspace_max_bytes=2 * MIB))

    result = await sandbox.run(
        f"head -c {MIB} /dev/urandom > one.bin; for i in 1 2 3 4; do ln one.bin link-$i; done; "
        "truncate -s 1G sparse.bin",
        timeout=30,
    )

    assert (result.exit_code, result.error) == (0, None)
