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
    assert len({line.rpartition("/")[2] for line in own_groups}) == 1
    assert [line for line in own_groups if ":pids:" in line or line.startswith("0::")] != []
    for parent in {tree.path, tree.memory, tree.cpu} - {None}:
        assert parent is not None
        assert list(parent.glob(f"codeyard-{os.getpid()}-*")) == []


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


def test_command_groups_carry_the_memory_and_cpu_limits(tree: CgroupTree) -> None:
    if tree.memory is None or tree.cpu is None:
        pytest.skip("no writable memory and cpu cgroups on this host")

    group = tree.create(8, memory_bytes=64 * 1024 * 1024, cpus=0.5)

    try:
        memory, cpu = group.memory, group.paths[-1]
        assert memory is not None
        limit = memory / "memory.max" if (memory / "memory.max").exists() else memory / "memory.limit_in_bytes"
        quota = cpu / "cpu.max" if (cpu / "cpu.max").exists() else cpu / "cpu.cfs_quota_us"
        assert limit.read_text().strip() == str(64 * 1024 * 1024)
        assert quota.read_text().split()[0] == "50000"
    finally:
        for path in reversed(group.paths):
            path.rmdir()
