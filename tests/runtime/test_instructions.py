"""Reading a repository's instruction files on the host: only regular files inside the repository, capped."""

import os
from pathlib import Path

from codeyard.runner import instructions
from codeyard.runner.instructions import MAX_FILE_BYTES, MAX_TOTAL_BYTES, collect


def _repo(root: Path, name: str) -> Path:
    repo = root / name
    repo.mkdir(parents=True)
    return repo


def test_only_regular_files_inside_the_repository_are_read(tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "github").mkdir(parents=True)
    (host / "github" / "copilot-instructions.md").write_text("HOST-COPILOT")
    (host / "secret").write_text("HOST-SECRET")
    workspace = tmp_path / "ws"
    repo = _repo(workspace, "app")
    (repo / "AGENTS.md").symlink_to(host / "secret")  # a file symlink
    (repo / ".github").symlink_to(host / "github")  # a directory symlink on the way
    os.link(host / "secret", repo / "CLAUDE.md")  # a hard link to a file elsewhere
    os.mkfifo(repo / ".cursorrules")  # would block a plain open
    (repo / ".devin").mkdir()
    (repo / ".devin" / "dir.md").mkdir()
    (repo / ".devin" / "link.md").symlink_to(host / "secret")
    (repo / ".devin" / "ok.md").write_text("  DEVIN-OK \n")
    (repo / ".devin" / "empty.md").write_text("\n")

    found = collect([repo], workspace)

    assert [(f.path, f.text, f.cut) for f in found] == [("app/.devin/ok.md", "DEVIN-OK", False)]


def test_sizes_are_capped_per_file_and_in_all(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    repos = []
    for index in range(5):
        repo = _repo(workspace, f"r{index}")
        (repo / "AGENTS.md").write_text("A" * (MAX_FILE_BYTES + 10))
        repos.append(repo)

    found = collect(repos, workspace)

    assert [len(f.text) for f in found] == [MAX_FILE_BYTES] * (MAX_TOTAL_BYTES // MAX_FILE_BYTES)
    assert all(f.cut for f in found)


def test_many_devin_files_are_limited_and_a_missing_repo_is_skipped(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    repo = _repo(workspace, "app")
    (repo / ".devin").mkdir()
    for index in range(instructions.MAX_DEVIN_FILES + 5):
        (repo / ".devin" / f"{index:02d}.md").write_text(f"rule {index}")

    found = collect([workspace / "gone", repo], workspace)

    assert [f.path for f in found] == [f"app/.devin/{i:02d}.md" for i in range(instructions.MAX_DEVIN_FILES)]
