"""With the network allowed, commands reach the outside but never the host's loopback, link-local or private
ranges, nor the host's own addresses.

"The outside" is a network namespace of the test's own, joined to the host by a veth pair: a listener on a
private address there, and one on an address from a documentation range (routed to the veth and to
nowhere else, checked before any connection) standing for a public host. No packet leaves the machine.
"""

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from codeyard.sandbox import Sandbox, create_sandbox
from codeyard.sandbox.egress import egress_problem

pytestmark = pytest.mark.usefixtures("bwrap")

LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], 0))
print(server.getsockname()[1], flush=True)
while True:
    connection, _ = server.accept()
    connection.sendall(b"hello from " + sys.argv[1].encode() + b"\\n")
    connection.close()
"""
_READY_LIMIT_S = 10.0


@dataclass
class FakeInternet:
    private: tuple[str, int]
    """A listener on a private address in the test's namespace."""
    link_local: tuple[str, int]
    """A listener on a link-local address (where clouds keep their metadata service)."""
    public: tuple[str, int]
    """A listener on an address the sandbox counts as public."""


def _ip(*args: str, netns: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def allowed() -> None:
    problem = egress_problem()
    if problem is not None:
        pytest.skip(f"the filtered network cannot be set up here: {problem}")


@pytest.fixture
def test_network(allowed: None) -> Iterator[FakeInternet]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to make a test network namespace")
    tag = secrets.token_hex(3)
    netns, host_end, ns_end = f"cy-egress-{tag}", f"cyh{tag}", f"cyn{tag}"
    third = secrets.randbelow(200) + 20
    host_address, ns_address = f"10.231.{third}.1", f"10.231.{third}.2"
    link_local, public = f"169.254.{third}.2", f"203.0.113.{third}"
    listeners: list[subprocess.Popen[str]] = []
    try:
        _ip("netns", "add", netns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end, "netns", netns)
        _ip("addr", "add", f"{host_address}/24", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("addr", "add", f"{ns_address}/24", "dev", ns_end, netns=netns)
        for extra in (link_local, public):
            _ip("addr", "add", f"{extra}/32", "dev", ns_end, netns=netns)
        _ip("link", "set", ns_end, "up", netns=netns)
        _ip("link", "set", "lo", "up", netns=netns)
        _ip("route", "add", "default", "via", host_address, netns=netns)
        for extra in (link_local, public):
            _ip("route", "add", f"{extra}/32", "via", ns_address, "dev", host_end)
            assert f"dev {host_end}" in _ip("route", "get", extra), "test traffic must stay on the veth"
        ports = []
        for address in (ns_address, link_local, public):
            listener = subprocess.Popen(
                ["ip", "netns", "exec", netns, sys.executable, "-c", LISTENER, address],
                stdout=subprocess.PIPE,
                text=True,
            )
            listeners.append(listener)
            assert listener.stdout is not None
            ports.append(int(listener.stdout.readline()))
        network = FakeInternet((ns_address, ports[0]), (link_local, ports[1]), (public, ports[2]))
        for address, port in (network.private, network.link_local, network.public):
            _wait_reachable(address, port)
        yield network
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait()
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", host_end)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", netns)


def _wait_reachable(address: str, port: int) -> None:
    """The control: the host itself reaches every test listener."""
    deadline = time.monotonic() + _READY_LIMIT_S
    while True:
        try:
            with socket.create_connection((address, port), timeout=2) as connection:
                assert connection.recv(100).startswith(b"hello")
                return
        except OSError:
            assert time.monotonic() < deadline, f"test listener {address}:{port} never answered"
            time.sleep(0.05)


@pytest.fixture
def loopback_listener() -> Iterator[int]:
    """The API's stand-in: a listener on the host's loopback."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def networked(workspace: Path, allowed: None) -> Sandbox:
    return create_sandbox(workspace, backend="bwrap", network=True)


def _connect(address: str, port: int) -> str:
    return f"exec 3<>/dev/tcp/{address}/{port} && echo connected && head -n 1 <&3"


async def test_loopback_of_the_host_stays_closed(networked: Sandbox, loopback_listener: int) -> None:
    result = await networked.run(_connect("127.0.0.1", loopback_listener), timeout=20)

    assert result.exit_code != 0
    assert "connected" not in result.output


async def test_private_and_link_local_ranges_stay_closed_while_public_ones_open(
    networked: Sandbox, test_network: FakeInternet
) -> None:
    results = {}
    for name, (address, port) in (
        ("private", test_network.private),
        ("link_local", test_network.link_local),
        ("public", test_network.public),
    ):
        results[name] = await networked.run(_connect(address, port), timeout=20)

    public = test_network.public[0]
    assert (results["public"].exit_code, results["public"].output) == (0, f"connected\nhello from {public}\n")
    for name in ("private", "link_local"):
        assert results[name].exit_code != 0, name
        assert "connected" not in results[name].output
        assert "Permission denied" in results[name].output


async def test_the_hosts_own_addresses_stay_closed(workspace: Path, allowed: None) -> None:
    """A service listening on all addresses is not reachable through the host's own non-loopback address."""
    shown = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, check=True).stdout)
    own = [
        address["local"]
        for interface in shown
        for address in interface.get("addr_info", [])
        if not ipaddress.ip_address(address["local"]).is_loopback
    ]
    if not own:
        pytest.skip("the host has no address besides loopback")
    with socket.create_server(("0.0.0.0", 0)) as server:
        port = server.getsockname()[1]
        sandbox = create_sandbox(workspace, backend="bwrap", network=True)

        result = await sandbox.run(_connect(own[0], port), timeout=20)

    assert result.exit_code != 0
    assert "Permission denied" in result.output


async def test_names_resolve_through_the_sandboxs_own_resolver(networked: Sandbox) -> None:
    result = await networked.run("cat /etc/resolv.conf; ip route", timeout=20)

    assert result.output.startswith("nameserver 10.0.2.3\n")
    assert "prohibit 10.0.0.0/8" in result.output
    assert "prohibit 169.254.0.0/16" in result.output


async def test_commands_cannot_open_the_closed_ranges_again(networked: Sandbox) -> None:
    result = await networked.run("ip route del prohibit 10.0.0.0/8; echo ---; ip route", timeout=20)

    refusal, _, routes = result.output.partition("---")
    assert "Operation not permitted" in refusal
    assert "prohibit 10.0.0.0/8" in routes


async def test_stopping_a_networked_command_leaves_no_helper_behind(networked: Sandbox, sleeper: Any) -> None:
    task = asyncio.create_task(networked.run(f"{sleeper.command} & wait", timeout=60))
    await sleeper.wait_running(1)

    await networked.kill_all()
    result = await task

    assert (result.cancelled, result.exit_code) == (True, None)
    assert sleeper.survivors() == []
    helpers = [child for child in psutil.Process().children(recursive=True) if child.name() == "slirp4netns"]
    assert helpers == []
