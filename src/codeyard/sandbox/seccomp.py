"""The seccomp filter bubblewrap loads before it starts a command (``--seccomp FD``).

Everything is allowed except the system calls a container has no use for and that widen the kernel's
attack surface or reach outside the sandbox: tracing other processes, the kernel keyring, eBPF, mounting,
new namespaces, loading kernel code, swap, reboot, perf events, userfaultfd, opening files by handle,
changing the root. They fail with ``EPERM`` (the command sees an ordinary error and can go on). ``clone``
with a namespace flag fails the same way, and ``clone3`` reports ``ENOSYS`` so that the C library falls
back to ``clone``, whose flags the filter can see (the usual container profile). The filter is compiled
once per process with libseccomp (through ``pyseccomp``), for the native architecture and, on x86-64,
for 32-bit x86 as well, so that ``int 0x80`` cannot go around it.
"""

import errno
import functools
import os
import tempfile

from codeyard.sandbox.base import SandboxError

DENIED_SYSCALLS = (
    "acct",
    "add_key",
    "bpf",
    "chroot",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "init_module",
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
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "swapoff",
    "swapon",
    "syslog",
    "umount",
    "umount2",
    "unshare",
    "userfaultfd",
    "vhangup",
)
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
