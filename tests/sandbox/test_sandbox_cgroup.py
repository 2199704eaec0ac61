"""Per-command pids cgroups: created, removed, and cleaned up after a crashed server."""

import os
import subprocess
from pathlib import Path

import pytest

from codeyard.sandbox import create_sandbox
from codeyard.sandbox.cgroup import CgroupTree


@pytest.fixture
def tree() -> CgroupTree:
    found = CgroupTree.find()
    if found is None:
        pytest.skip("no writable pids cgroup on this host")
    return found


async def test_each_command_gets_a_group_that_is_removed_afterwards(tree: CgroupTree, workspace: Path) -> None:
    sandbox = create_sandbox(workspace, backend="local")

    result = await sandbox.run("cat /proc/self/cgroup", timeout=10)

    own_groups = [line for line in result.output.splitlines() if f"codeyard-{os.getpid()}-" in line]
    assert len(own_groups) == 1
    assert list(tree.path.glob(f"codeyard-{os.getpid()}-*")) == []


def test_groups_of_dead_servers_are_removed(tree: CgroupTree) -> None:
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    stale = tree.path / f"codeyard-{dead_pid.pid}-feedface"
    stale.mkdir()
    live = tree.create(8)

    tree.remove_stale()

    assert not stale.exists()
    assert live.path.exists()
    live.path.rmdir()
