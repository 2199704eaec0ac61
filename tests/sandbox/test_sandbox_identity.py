"""Commands never act as host root: an unprivileged uid, read-only /proc/sys, no new user namespaces, a
seccomp filter, a sized /tmp, and a workspace that stays theirs without reaching past it."""

import os
from pathlib import Path

import pytest

from codeyard.sandbox import Sandbox, SandboxLimits, create_sandbox
from codeyard.sandbox.egress import egress_problem
from codeyard.sandbox.ownership import resolve_identity
from tests.sandbox.conftest import as_root

pytestmark = pytest.mark.usefixtures("bwrap")

MIB = 1024 * 1024
SYSCALL_PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {
    "ptrace": lambda: libc.ptrace(0, 0, 0, 0),  # PTRACE_TRACEME: allowed to anyone without the filter
    "keyctl": lambda: libc.syscall(250 if os.uname().machine == "x86_64" else 219, 1, 0),  # join session keyring
    "unshare": lambda: libc.unshare(0x00020000),
    "mount": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),
    "userns": lambda: libc.unshare(0x10000000),
}
for name, call in calls.items():
    ctypes.set_errno(0)
    result = call()
    print(name, result, errno.errorcode.get(ctypes.get_errno(), "0"))
"""


@pytest.fixture
def sandbox(workspace: Path) -> Sandbox:
    return create_sandbox(workspace, backend="bwrap")


@as_root
async def test_commands_run_as_an_unprivileged_host_uid(
    sandbox: Sandbox, workspace: Path, root_only_file: Path
) -> None:
    identity = resolve_identity()

    result = await sandbox.run(f"touch made-here; cat {root_only_file}; echo end", timeout=10)

    made = (workspace / "made-here").stat()
    assert (made.st_uid, made.st_gid) == (identity.uid, identity.gid)
    assert made.st_uid != 0
    assert "root-only-secret" not in result.output
    assert "Permission denied" in result.output


@as_root
async def test_the_sandbox_uid_is_configurable_and_never_root(workspace: Path) -> None:
    sandbox = create_sandbox(workspace, backend="bwrap", uid=64998, gid=64997)

    await sandbox.run("touch made-here", timeout=10)

    made = (workspace / "made-here").stat()
    assert (made.st_uid, made.st_gid) == (64998, 64997)
    with pytest.raises(ValueError, match="unprivileged"):
        create_sandbox(workspace, backend="bwrap", uid=0, gid=0)


async def test_proc_sys_is_read_only(sandbox: Sandbox) -> None:
    """Writes the value already set, so that even a sandbox that let it through would change nothing."""
    swappiness = Path("/proc/sys/vm/swappiness").read_text().strip()
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()

    result = await sandbox.run(
        f"echo {swappiness} > /proc/sys/vm/swappiness && echo swappiness-written; "
        f"echo '{core_pattern}' > /proc/sys/kernel/core_pattern && echo core-pattern-written; "
        "grep -E ' /proc/sys ' /proc/self/mountinfo",
        timeout=10,
    )

    assert "written" not in result.output
    assert "Read-only file system" in result.output
    assert " ro," in result.output or " ro " in result.output


async def test_no_new_user_namespaces(sandbox: Sandbox) -> None:
    result = await sandbox.run("unshare --user --map-root-user id -u; echo status=$?", timeout=10)

    assert "status=0" not in result.output
    assert "\n0\n" not in f"\n{result.output}"


async def test_seccomp_refuses_the_container_deny_list(sandbox: Sandbox, workspace: Path) -> None:
    (workspace / "probe.py").write_text(SYSCALL_PROBE)

    result = await sandbox.run("/usr/bin/python3 probe.py", timeout=10)

    outcomes = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()}
    assert outcomes == {name: ["-1", "EPERM"] for name in ("ptrace", "keyctl", "unshare", "mount", "userns")}


async def test_ordinary_work_passes_the_filter(sandbox: Sandbox) -> None:
    result = await sandbox.run(
        "git init -q repo && cd repo && echo hi > a && git add a && "
        "git -c user.email=a@b -c user.name=n commit -qm one && (sleep 0.1 &) && wait && "
        "/usr/bin/python3 -c 'import multiprocessing as m; print(m.Pool(2).map(abs, [-1, -2]))'",
        timeout=60,
    )

    assert (result.exit_code, result.output) == (0, "[1, 2]\n")


@pytest.mark.parametrize("directory", ["/tmp", "/dev/shm"])
async def test_memory_backed_directories_are_sized(workspace: Path, directory: str) -> None:
    sandbox = create_sandbox(workspace, backend="bwrap", limits=SandboxLimits(tmp_bytes=MIB))

    result = await sandbox.run(
        f"head -c {2 * MIB} /dev/zero > {directory}/big; echo status=$?; df -k {directory}", timeout=10
    )

    assert "No space left on device" in result.output
    assert "status=0" not in result.output
    assert " 1024 " in result.output


async def test_dev_cannot_hold_files_but_its_devices_work(sandbox: Sandbox) -> None:
    result = await sandbox.run(
        f"head -c {MIB} /dev/zero > /dev/big; echo status=$?; echo gone > /dev/null && head -c 3 /dev/zero | wc -c",
        timeout=10,
    )

    assert "Read-only file system" in result.output
    assert "status=0" not in result.output
    assert result.output.endswith("3\n")


@as_root
async def test_files_the_server_wrote_become_the_commands(sandbox: Sandbox, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    (workspace / "sub" / "from-server.txt").write_text("server\n")

    result = await sandbox.run("echo command >> sub/from-server.txt && mkdir sub/made && echo ok", timeout=10)

    assert (result.exit_code, result.output) == (0, "ok\n")
    assert (workspace / "sub" / "from-server.txt").read_text() == "server\ncommand\n"


@as_root
async def test_handing_the_workspace_over_never_reaches_past_it(
    sandbox: Sandbox, workspace: Path, tmp_path: Path
) -> None:
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "inner").write_text("outside")
    linked_file = tmp_path / "linked-file"
    linked_file.write_text("outside")
    hard_linked = tmp_path / "hard-linked"
    hard_linked.write_text("outside")
    (workspace / "to-dir").symlink_to(outside_dir)
    (workspace / "to-file").symlink_to(linked_file)
    os.link(hard_linked, workspace / "hard-link")

    await sandbox.run("true", timeout=10)

    for path in (outside_dir, outside_dir / "inner", linked_file, hard_linked):
        assert path.stat().st_uid == 0, path
    assert workspace.stat().st_uid == resolve_identity().uid


@pytest.mark.parametrize("network", [False, True])
async def test_no_descriptor_of_the_server_reaches_a_command(workspace: Path, network: bool) -> None:
    """A directory descriptor opened outside the sandbox's root would let ``..`` climb out of it."""
    if network:
        problem = egress_problem()
        if problem is not None:
            pytest.skip(problem)
    sandbox = create_sandbox(workspace, backend="bwrap", network=network)

    result = await sandbox.run(
        "/usr/bin/python3 -c 'import os; print(sorted(int(fd) for fd in os.listdir(\"/proc/self/fd\")))'", timeout=20
    )

    assert result.output == "[0, 1, 2, 3]\n"  # stdin, stdout, stderr, and the listing's own descriptor


ADDED_CALLS_PROBE = """
import ctypes, errno, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
calls = json.loads(sys.argv[1])
for name, (number, *args) in sorted(calls.items()):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(arg) for arg in args))
    print(name, result, errno.errorcode.get(ctypes.get_errno(), "0") if result == -1 else "0")
"""
BAD_POINTER = 1
ADDED_CALLS = {
    # arguments chosen so that, without the filter, each call fails with another error than EPERM (or works)
    "io_uring_setup": (0, 0),  # EINVAL: no entries
    "io_uring_enter": (-1, 0, 0, 0, 0, 0),  # EBADF
    "io_uring_register": (-1, 0, 0, 0),  # EBADF
    "kcmp": (0, 0, 99, 0, 0),  # EINVAL: no such type
    "iopl": (99,),  # EINVAL: level above 3
    "ioperm": (0, 0, 1),  # EINVAL: empty range
    "clock_settime": (99, BAD_POINTER),  # EINVAL: no such clock
    "clock_adjtime": (99, BAD_POINTER),  # EINVAL: no such clock
    "settimeofday": (BAD_POINTER, 0),  # EFAULT
    "adjtimex": (BAD_POINTER,),  # EFAULT
    "uselib": (BAD_POINTER,),  # EFAULT or ENOSYS
    "ustat": (0, BAD_POINTER),  # EINVAL/EFAULT or ENOSYS
    "sysfs": (99,),  # EINVAL or ENOSYS
    "_sysctl": (BAD_POINTER,),  # ENOSYS (removed from the kernel)
    "personality ADDR_NO_RANDOMIZE": (0x0040000,),
    "personality READ_IMPLIES_EXEC": (0x0400000,),
    "personality above 32 bits": (0x1_0040000,),
    "personality PER_SVR4": (0x4100001,),
    "personality bit 31": (0x80040000,),
}
HARMLESS_PERSONALITIES = {
    "personality query": (0xFFFFFFFF,),
    "personality PER_LINUX32": (0x8,),
    "personality UNAME26": (0x20000,),
    "personality PER_LINUX": (0x0,),
}


async def test_seccomp_refuses_the_calls_added_from_dockers_profile(sandbox: Sandbox, workspace: Path) -> None:
    import json

    import pyseccomp

    def number(name: str) -> int:
        return int(pyseccomp.resolve_syscall(pyseccomp.system_arch(), name.split()[0]))

    denied = {name: [number(name), *args] for name, args in ADDED_CALLS.items() if number(name) >= 0}
    allowed = {name: [number(name), *args] for name, args in HARMLESS_PERSONALITIES.items()}
    (workspace / "probe.py").write_text(ADDED_CALLS_PROBE)

    refused = await sandbox.run(f"/usr/bin/python3 probe.py '{json.dumps(denied)}'", timeout=10)
    harmless = await sandbox.run(f"/usr/bin/python3 probe.py '{json.dumps(allowed)}'", timeout=10)

    outcomes = {line.rsplit(" ", 2)[0]: line.rsplit(" ", 2)[1:] for line in refused.output.splitlines()}
    assert outcomes == {name: ["-1", "EPERM"] for name in denied}
    assert len(denied) >= 15
    assert [line.rsplit(" ", 1)[1] for line in harmless.output.splitlines()] == ["0"] * len(allowed), harmless.output
