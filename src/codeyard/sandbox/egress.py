"""Network for commands when the server allows it: the public internet, never the host's own network.

Sharing the server's network namespace would give a command the server's loopback (the API itself),
the cloud metadata address and every private service the host can reach. Instead each command keeps its
own network namespace and gets a user-mode TCP/IP stack, slirp4netns, on a tap device: slirp4netns makes
the command's connections from the host as ordinary sockets, with the host's loopback turned off
(``--disable-host-loopback``). Before the command starts, ``prohibit`` routes are added in its namespace
for loopback, link-local, private, shared, multicast and reserved IPv4 ranges and for every network the
host itself sits on, so connecting there fails at once with EACCES whatever the name resolved to; the
command has no capability to change those routes. DNS goes through slirp4netns's resolver (10.0.2.3),
which forwards to the host's. There is no IPv6 (slirp4netns runs without it), so no IPv6 range is
reachable either.

bwrap stops before the command (``--block-fd``) and reports its pid (``--info-fd``); we attach the
network to that pid's namespace, then let bwrap go on. The helpers run with the same credentials as
bwrap (the sandbox uid when the server is root).
"""

import asyncio
import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

from codeyard.sandbox.base import SandboxError

BLOCKED_RANGES = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
"""IPv4 ranges a command never reaches: RFC 1918 and 6598 private space, loopback, link-local (cloud
metadata), benchmarking, multicast and reserved. The host's own networks are added at start."""
RESOLVER = "10.0.2.3"
"""slirp4netns's DNS forwarder, the only address of its network a command may reach."""
_NS_GET_USERNS = 0xB701
_SETUP_TIMEOUT_S = 10.0
_TOOLS = ("slirp4netns", "nsenter", "ip")


def egress_problem() -> str | None:
    """Why a filtered network cannot be given here, or None."""
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)} (Debian packages slirp4netns, util-linux, iproute2)"
    return None


@functools.cache
def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SandboxError(f"the filtered network needs {name}, which is not installed")
    return path


def host_networks() -> list[str]:
    """The IPv4 networks of the host's own interfaces (its addresses and the LANs it sits on)."""
    try:
        shown = subprocess.run(
            [_tool("ip"), "-j", "-4", "addr", "show"], capture_output=True, timeout=_SETUP_TIMEOUT_S, check=True
        )
        interfaces = json.loads(shown.stdout)
    except (OSError, subprocess.SubprocessError, ValueError, SandboxError):
        return []
    networks: set[str] = set()
    for interface in interfaces:
        for address in interface.get("addr_info", []):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                network = ipaddress.ip_interface(f"{address['local']}/{address['prefixlen']}").network
                networks.add(str(network))
    return sorted(networks)


def blocked_ranges() -> list[str]:
    """Everything a command's connections may not reach: the fixed ranges plus the host's networks."""
    ranges = list(BLOCKED_RANGES)
    for network in host_networks():
        if network not in ranges:
            ranges.append(network)
    return ranges


class EgressAttachment:
    """The network of one starting command: the pipes bwrap reports and waits on, then slirp4netns."""

    def __init__(self, blocked: Sequence[str], demote: Callable[[], None] | None) -> None:
        self._blocked = blocked
        self._demote = demote
        self._info_read, self.info_write = os.pipe2(os.O_CLOEXEC)
        self.block_read, self._block_write = os.pipe2(os.O_CLOEXEC)
        self._open = {self._info_read, self.info_write, self.block_read, self._block_write}
        self._slirp: asyncio.subprocess.Process | None = None

    @property
    def bwrap_options(self) -> list[str]:
        return ["--info-fd", str(self.info_write), "--block-fd", str(self.block_read)]

    @property
    def child_fds(self) -> tuple[int, int]:
        return (self.info_write, self.block_read)

    def started(self) -> None:
        """bwrap is running: drop our copies of its ends of the pipes."""
        self._close(self.info_write, self.block_read)

    async def attach(self) -> None:
        """Give the waiting sandbox its network, then let the command start."""
        try:
            await asyncio.wait_for(self._attach(), _SETUP_TIMEOUT_S)
        except TimeoutError as exc:
            raise SandboxError("the sandbox's network could not be set up in time") from exc
        except OSError as exc:
            raise SandboxError(f"the sandbox's network could not be set up: {exc}") from exc
        try:
            os.write(self._block_write, b"1")
        except OSError as exc:
            raise SandboxError("the sandbox stopped before its network was set up") from exc

    async def _attach(self) -> None:
        pid = await self._child_pid()
        netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            userns = fcntl.ioctl(netns, _NS_GET_USERNS)
            try:
                await self._start_slirp(netns, userns)
                await self._block_ranges(netns, userns)
            finally:
                os.close(userns)
        finally:
            os.close(netns)

    async def _child_pid(self) -> int:
        loop = asyncio.get_running_loop()
        received = b""
        while True:
            chunk = await loop.run_in_executor(None, os.read, self._info_read, 4096)
            if not chunk:
                raise SandboxError("the sandbox stopped before its network was set up")
            received += chunk
            with contextlib.suppress(ValueError):
                info = json.loads(received)
                return int(info["child-pid"])

    async def _start_slirp(self, netns: int, userns: int) -> None:
        ready_read, ready_write = os.pipe2(os.O_CLOEXEC)
        # slirp4netns exits when the write end closes: at ``close`` or when the server itself dies.
        exit_read, self._exit_write = os.pipe2(os.O_CLOEXEC)
        self._open.add(self._exit_write)
        try:
            self._slirp = await asyncio.create_subprocess_exec(
                _tool("slirp4netns"),
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                "--enable-seccomp",
                f"--ready-fd={ready_write}",
                f"--exit-fd={exit_read}",
                "--netns-type=path",
                f"--userns-path=/proc/self/fd/{userns}",
                f"/proc/self/fd/{netns}",
                "tap0",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(ready_write, exit_read, netns, userns),
                start_new_session=True,
                preexec_fn=self._demote,
            )
            os.close(ready_write)
            ready_write = -1
            loop = asyncio.get_running_loop()
            if await loop.run_in_executor(None, os.read, ready_read, 1) != b"1":
                raise SandboxError("slirp4netns could not give the sandbox a network")
        finally:
            os.close(ready_read)
            os.close(exit_read)
            if ready_write >= 0:
                os.close(ready_write)

    async def _block_ranges(self, netns: int, userns: int) -> None:
        routes = "".join(f"route add prohibit {network}\n" for network in self._blocked)
        setter = await asyncio.create_subprocess_exec(
            _tool("nsenter"),
            "--preserve-credentials",
            f"--user=/proc/self/fd/{userns}",
            f"--net=/proc/self/fd/{netns}",
            _tool("ip"),
            "-batch",
            "-",
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(netns, userns),
            preexec_fn=self._demote,
        )
        _, errors = await setter.communicate(routes.encode())
        if setter.returncode != 0:
            detail = errors.decode("utf-8", errors="replace").strip()[:300]
            raise SandboxError(f"could not close the host's networks to the sandbox: {detail}")

    async def close(self) -> None:
        """Stop slirp4netns and close what is left of the pipes."""
        self._close(*list(self._open))
        if self._slirp is not None and self._slirp.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._slirp.kill()
            await self._slirp.wait()

    def _close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._open:
                self._open.discard(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)


def resolver_config() -> bytes:
    """``/etc/resolv.conf`` of a sandbox with the filtered network."""
    return f"nameserver {RESOLVER}\n".encode()
