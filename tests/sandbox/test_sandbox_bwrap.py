"""Isolation that only the bubblewrap backend gives: filesystem view, uid and network."""

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeyard.sandbox import SANDBOX_WORKSPACE, Sandbox, bwrap_available, create_sandbox

pytestmark = pytest.mark.usefixtures("bwrap")


@pytest.fixture
def sandbox(workspace: Path) -> Sandbox:
    return create_sandbox(workspace, backend="bwrap")


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port listening on the host's loopback."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_auto_picks_bubblewrap_where_it_starts(workspace: Path) -> None:
    assert bwrap_available()
    assert create_sandbox(workspace).backend == "bwrap"


async def test_runs_as_uid_1000_in_the_workspace(sandbox: Sandbox) -> None:
    result = await sandbox.run('id -u; id -g; pwd; echo "$HOME"; grep CapEff /proc/self/status', timeout=10)

    assert result.output.split() == ["1000", "1000", "/workspace", "/workspace", "CapEff:", "0000000000000000"]
    assert str(SANDBOX_WORKSPACE) == "/workspace"


async def test_system_and_root_are_read_only(sandbox: Sandbox) -> None:
    name = f"codeyard-probe-{secrets.token_hex(4)}"

    results = [await sandbox.run(f"touch {path}/{name}", timeout=10) for path in ("", "/usr", "/etc", "/usr/bin")]

    assert all(result.exit_code != 0 and "Read-only file system" in result.output for result in results)
    assert not any((Path(path) / name).exists() for path in ("/", "/usr", "/etc", "/usr/bin"))


async def test_tmp_is_private_and_empty(sandbox: Sandbox) -> None:
    host_file = Path("/tmp") / f"codeyard-host-{secrets.token_hex(4)}"
    host_file.write_text("host")
    inside_name = f"codeyard-inside-{secrets.token_hex(4)}"
    try:
        result = await sandbox.run(f"ls -A /tmp; echo made > /tmp/{inside_name} && echo written", timeout=10)
    finally:
        host_file.unlink()

    assert result.output == "written\n"
    assert not (Path("/tmp") / inside_name).exists()


async def test_data_dir_home_and_sensitive_files_are_invisible(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret.key").write_text("server-secret-key")
    sandbox = create_sandbox(data_dir / "workspaces" / "one", backend="bwrap", hidden_paths=[data_dir])

    result = await sandbox.run(
        f"cat {data_dir}/secret.key; ls {Path.home()}; cat /etc/shadow; ls /workspace/..; echo end", timeout=10
    )

    assert "server-secret-key" not in result.output
    assert f"ls: cannot access '{Path.home()}'" in result.output
    assert "root:" not in result.output
    assert result.output.endswith("workspace\nend\n")


async def test_hidden_paths_are_covered_where_the_sandbox_would_see_them(workspace: Path) -> None:
    (workspace / "private").mkdir()
    (workspace / "private" / "key").write_text("dir-secret")
    (workspace / "token.txt").write_text("file-secret")
    reveal = "ls -A private; cat private/key token.txt"
    hidden = create_sandbox(workspace, backend="bwrap", hidden_paths=[workspace / "private", workspace / "token.txt"])
    visible = create_sandbox(workspace, backend="bwrap")

    covered = await hidden.run(reveal, timeout=10)
    shown = await visible.run(reveal, timeout=10)

    assert "dir-secret" not in covered.output
    assert "file-secret" not in covered.output
    assert shown.output == "key\ndir-secretfile-secret"


async def test_network_is_cut_unless_allowed(workspace: Path, listener: int) -> None:
    """Without the network a command has only its own loopback (with it, see test_sandbox_egress.py)."""
    connect = f"exec 3<>/dev/tcp/127.0.0.1/{listener} && echo connected"
    isolated = create_sandbox(workspace, backend="bwrap")

    refused = await isolated.run(connect, timeout=10)

    assert refused.exit_code != 0
    assert "connected" not in refused.output
    assert "Connection refused" in refused.output
