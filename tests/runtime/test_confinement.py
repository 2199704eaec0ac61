"""Host-side file operations on a workspace never follow what the agent planted (issue 8, item 1): symlinks,
symlinked parents, hard links, FIFOs and links swapped in while the server works."""

import os
import threading
from pathlib import Path

import pytest

from codeyard.handoff.apply import HandoffApplyError, apply_handoff
from codeyard.handoff.manifest import Manifest
from codeyard.runner.workspace import WorkspaceError, prepare
from codeyard.sandbox import confine
from codeyard.sdk import Client
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import git, settled, wait_for
from tests.runtime.test_runtime_e2e import tool_results


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory the agent must never get the server to write into (think ``site-packages``)."""
    folder = tmp_path / "host-site-packages"
    folder.mkdir()
    return folder


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    path = tmp_path / "evil.pth"
    path.write_text("import os; os.system('touch /tmp/pwned')\n")
    return path


async def test_a_symlinked_attachments_folder_is_refused_and_nothing_lands_outside(
    tmp_path: Path, outside: Path, upload: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "attachments").symlink_to(outside)
    with pytest.raises(WorkspaceError, match="symbolic link"):
        await prepare(root, [], [("evil.pth", upload)], git_base_url="https://h", allow_local=False)
    assert list(outside.iterdir()) == []


async def test_a_planted_file_link_is_never_written_through(tmp_path: Path, outside: Path, upload: Path) -> None:
    root = tmp_path / "ws"
    (root / "attachments").mkdir(parents=True)
    (root / "attachments" / "evil.pth").symlink_to(outside / "evil.pth")  # dangling: a write would create it
    victim = outside / "victim.txt"
    victim.write_text("host data")
    os.link(victim, root / "attachments" / "evil-2.pth")  # a hard link to a host file
    ws = await prepare(root, [], [("evil.pth", upload)], git_base_url="https://h", allow_local=False)
    assert [p.name for p in ws.files] == ["evil-3.pth"]
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert victim.read_text() == "host data"
    assert (root / "attachments" / "evil-3.pth").read_text() == upload.read_text()


async def test_a_placed_attachment_is_reused_on_resume_but_not_through_a_link(tmp_path: Path, upload: Path) -> None:
    root = tmp_path / "ws"
    first = await prepare(root, [], [("evil.pth", upload)], git_base_url="https://h", allow_local=False)
    again = await prepare(root, [], [("evil.pth", upload)], git_base_url="https://h", allow_local=False)
    assert first.files == again.files == [root / "attachments" / "evil.pth"]
    # the agent replaces the placed file by a link to a copy elsewhere: the link is not taken as the upload
    elsewhere = tmp_path / "copy.pth"
    elsewhere.write_bytes(upload.read_bytes())
    (root / "attachments" / "evil.pth").unlink()
    (root / "attachments" / "evil.pth").symlink_to(elsewhere)
    third = await prepare(root, [], [("evil.pth", upload)], git_base_url="https://h", allow_local=False)
    assert third.files == [root / "attachments" / "evil-2.pth"]


async def test_a_link_swapped_in_while_files_are_placed_never_leads_outside(
    tmp_path: Path, outside: Path, upload: Path
) -> None:
    root = tmp_path / "ws"
    (root / "attachments").mkdir(parents=True)
    stop = threading.Event()

    def swap() -> None:  # the agent's process, flipping the folder between a directory and a link
        real = root / "real"
        while not stop.is_set():
            try:
                os.rename(root / "attachments", real)
                (root / "attachments").symlink_to(outside)
                (root / "attachments").unlink()
                os.rename(real, root / "attachments")
            except OSError:
                pass

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for i in range(200):
            try:
                await prepare(root, [], [(f"f{i}.pth", upload)], git_base_url="https://h", allow_local=False)
            except WorkspaceError:
                pass  # refused while the link was in place: that is the point
    finally:
        stop.set()
        swapper.join()
    assert list(outside.iterdir()) == []


async def test_a_repository_replaced_by_a_link_or_a_gitdir_file_is_refused_on_resume(
    tmp_path: Path, outside: Path
) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    git(origin, "-c", "user.email=a@b", "-c", "user.name=A", "commit", "-q", "--allow-empty", "-m", "x")
    root = tmp_path / "ws"
    await prepare(root, [str(origin)], [], git_base_url="https://h", allow_local=True)
    host_repo = tmp_path / "host-repo"
    (root / "origin").rename(host_repo)
    (root / "origin").symlink_to(host_repo)
    with pytest.raises(WorkspaceError, match="symbolic link"):
        await prepare(root, [str(origin)], [], git_base_url="https://h", allow_local=True)
    (root / "origin").unlink()
    (root / "origin").mkdir()
    (root / "origin" / ".git").write_text(f"gitdir: {host_repo}/.git\n")
    with pytest.raises(WorkspaceError, match="gitdir"):
        await prepare(root, [str(origin)], [], git_base_url="https://h", allow_local=True)


def test_confined_operations_refuse_links_fifos_and_escapes(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (outside / "secret").write_text("host secret")
    (root / "link").symlink_to(outside / "secret")
    (root / "dirlink").symlink_to(outside)
    os.link(outside / "secret", root / "hard")
    os.mkfifo(root / "fifo")
    (root / "loop").symlink_to(root / "loop")
    for path in ("link", "dirlink/secret", "hard", "fifo", "loop", "../ws/link", "/etc/passwd"):
        with pytest.raises(confine.ConfinementError):
            confine.read_bytes(root, path, max_bytes=1000)
    with pytest.raises(confine.ConfinementError, match="symbolic link"):
        confine.write_bytes(root, "dirlink/new", b"x")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    # writing a name that is a link or a hard link replaces the name, never the host file behind it
    confine.write_bytes(root, "link", b"mine")
    confine.write_bytes(root, "hard", b"mine too")
    assert (outside / "secret").read_text() == "host secret"
    assert not (root / "link").is_symlink() and (root / "link").read_text() == "mine"
    for escape in ("sub/..", ".", "../outside"):
        with pytest.raises(confine.ConfinementError):
            confine.write_bytes(root, escape, b"x")
    confine.write_bytes(root, "new/deeper/file.txt", b"ok")
    assert confine.read_bytes(root, "new/deeper/file.txt", max_bytes=10) == b"ok"


def test_handoff_apply_refuses_a_linked_repository_or_attachment(tmp_path: Path, outside: Path) -> None:
    sha = "a" * 40
    workspace = tmp_path / "ws"
    (workspace / "attachments").mkdir(parents=True)
    (workspace / "repo").symlink_to(outside)
    manifest = Manifest(None, None, sha, sha, "work.bundle", None, None)
    with pytest.raises(HandoffApplyError, match="symbolic link"):
        apply_handoff(workspace / "repo", manifest, {})
    (workspace / "repo").unlink()
    (workspace / "repo").mkdir()
    (outside / "work.bundle").write_bytes(b"not a bundle")
    (workspace / "attachments" / "work.bundle").symlink_to(outside / "work.bundle")
    with pytest.raises(HandoffApplyError, match="symbolic link"):
        apply_handoff(workspace / "repo", manifest, {"work.bundle": workspace / "attachments" / "work.bundle"})


def test_a_session_cannot_get_the_server_to_write_its_next_attachment_outside(
    client: Client, model_server: FakeModelServer, outside: Path
) -> None:
    """The reproduced attack: replace ``attachments/`` by a link, then the next message's file lands there."""
    model_server.add_script(
        "TASK-PLANT",
        [
            Step.tool("run_command", {"command": f"rm -rf attachments && ln -s {outside} attachments && echo planted"}),
            Step.text("planted the link"),
        ],
    )
    first = client.attachments.upload(b"first", name="one.txt")
    session = client.sessions.create(prompt="TASK-PLANT go", attachment_urls=[first.url])
    assert wait_for(client, session.session_id, settled).status == "exit"
    assert "planted" in tool_results(model_server, "TASK-PLANT")[0]
    second = client.attachments.upload(b"import os; os.system('id')\n", name="evil.pth")
    client.sessions.send_message(session.session_id, "here is another file", attachment_urls=[second.url])
    done = wait_for(client, session.session_id, lambda s: settled(s) and s.status != "running")
    assert list(outside.iterdir()) == []
    assert done.status == "error"
    assert "symbolic link" in client.sessions.messages(session.session_id).items[-1].message


def test_file_tool_errors_go_back_to_the_model(client: Client, model_server: FakeModelServer, outside: Path) -> None:
    model_server.add_script(
        "TASK-TOOLERR",
        [
            Step.tool("run_command", {"command": f"mkdir adir && ln -s {outside} out && ln -s loop loop && echo ok"}),
            Step.tool("write_file", {"path": "adir", "content": "x"}),
            Step.tool("write_file", {"path": "out/evil.pth", "content": "x"}),
            Step.tool("read_file", {"path": "loop"}),
            Step.tool("edit_file", {"path": "adir", "old": "a", "new": "b"}),
            Step.tool("attach_file", {"path": "out"}),
            Step.text("handled"),
        ],
    )
    session = client.sessions.create(prompt="TASK-TOOLERR go")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")
    results = tool_results(model_server, "TASK-TOOLERR")
    assert all(r.startswith("error:") for r in results[1:6]), results
    assert list(outside.iterdir()) == []
