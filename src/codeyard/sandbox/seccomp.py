"""The seccomp filter bubblewrap loads before it starts a command (``--seccomp FD``).

Everything is allowed except the system calls a container has no use for and that widen the kernel's
attack surface or reach outside the sandbox: tracing other processes, the kernel keyring, eBPF, mounting,
new namespaces, loading kernel code, swap, reboot, perf events, userfaultfd, opening files by handle,
changing the root, io_uring (whose operations a filter cannot see), setting the clocks, raw port I/O and
vm86, comparing kernel objects of other processes (``kcmp``), and the obsolete module and ``sysctl``
calls (Docker's default profile, checked against it). They fail with ``EPERM`` (the command sees an
ordinary error and can go on). ``personality`` is limited to the values Docker's profile allows: the
query (``0xffffffff``), ``PER_LINUX``, ``PER_LINUX32`` and ``UNAME26``; any other execution domain or
flag (``ADDR_NO_RANDOMIZE``, ``READ_IMPLIES_EXEC``, ``MMAP_PAGE_ZERO`` …) fails with ``EPERM``. ``clone``
with a namespace flag fails the same way, and ``clone3`` reports ``ENOSYS`` so that the C library falls
back to ``clone``, whose flags the filter can see (the usual container profile). The filter is compiled
once per process with libseccomp (through ``pyseccomp``), for the native architecture and, on x86-64,
for 32-bit x86 as well, so that ``int 0x80`` cannot go around it.
"""

import ctypes
import errno
import functools
import os
import tempfile
from collections.abc import Callable
from typing import Any

from codeyard.sandbox.base import SandboxError
from codeyard.sandbox.libc import LIBC

DENIED_SYSCALLS = (
    "_sysctl",
    "acct",
    "add_key",
    "adjtimex",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_settime",
    "clock_settime64",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "syslog",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
    "vm86",
    "vm86old",
)
PERSONALITY_ALLOWED = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
"""``personality`` values a command may pass (Docker's profile): PER_LINUX, PER_LINUX32, with or without
UNAME26, and the query."""
_PERSONALITY_KEPT_BITS = 0x20008
_BIT31 = 1 << 31
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_BPF_INSTRUCTION_BYTES = 8
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}


@functools.cache
def seccomp_program() -> bytes:
    """The compiled BPF program (raises ``SandboxError`` when libseccomp is missing)."""
    try:
        import pyseccomp  # loaded here: it opens libseccomp.so, and a missing library is a sandbox problem
    except (ImportError, OSError) as exc:
        raise SandboxError(f"libseccomp is not available: {exc}") from exc
    program = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    if pyseccomp.system_arch() == pyseccomp.Arch.X86_64:
        program.add_arch(pyseccomp.Arch.X86)
    denied = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            program.add_rule(denied, name)
        except OSError:
            continue  # not a system call on this architecture
    _limit_personality(program, pyseccomp, denied)
    for flag in NAMESPACE_FLAGS.values():
        program.add_rule(denied, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    try:
        program.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    except OSError:
        pass
    with tempfile.TemporaryFile() as compiled:
        program.export_bpf(compiled)
        compiled.seek(0)
        return compiled.read()


def _limit_personality(program: Any, pyseccomp: Any, denied: Any) -> None:
    """Deny every ``personality`` argument outside ``PERSONALITY_ALLOWED``. A default-allow filter cannot
    add allow rules and libseccomp compares an argument once per rule, so the complement is spelled out
    bit by bit (the kernel reads the argument as 32 bits; anything above is refused outright):

    - bit 31 clear (every real persona): any bit other than those of PER_LINUX32 and UNAME26 set;
    - bit 31 set (only the query ``0xffffffff`` is allowed): any of the bits below it clear."""
    program.add_rule(denied, "personality", pyseccomp.Arg(0, pyseccomp.GT, 0xFFFFFFFF))
    for bit in range(31):
        mask = (1 << bit) | _BIT31
        if not (1 << bit) & _PERSONALITY_KEPT_BITS:
            program.add_rule(denied, "personality", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, mask, 1 << bit))
        program.add_rule(denied, "personality", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, mask, _BIT31))


def seccomp_fd() -> int:
    """A fresh file descriptor holding the program, for one bwrap to read (the caller closes it)."""
    program = seccomp_program()
    fd = os.memfd_create("codeyard-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _SockFilterProgram(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def seccomp_loader() -> Callable[[], None]:
    """A function for a forked child that loads the program into itself (and so into everything it
    executes): the local backend's way to the same filter bwrap loads. The child must have set
    ``PR_SET_NO_NEW_PRIVS`` first. The program and its descriptor are built here, in the parent, so the
    child only makes the one call."""
    program = seccomp_program()
    buffer = ctypes.create_string_buffer(program, len(program))
    described = _SockFilterProgram(len(program) // _BPF_INSTRUCTION_BYTES, ctypes.addressof(buffer))

    def load() -> None:
        keep = buffer  # the program must outlive this call
        if LIBC.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(described), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "could not load the seccomp filter")
        del keep

    return load
