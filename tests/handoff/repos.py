"""Helpers that build and inspect real git repositories for the handoff tests."""

import subprocess
from pathlib import Path


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    """Run git in `repo` as a user would (hooks and locks included), failing the test on error."""
    done = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout.decode(errors="surrogateescape").strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def tree_snapshot(repo: Path) -> dict[str, bytes]:
    """Every file of the working tree (outside .git) with its content."""
    return {
        str(path.relative_to(repo)): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(repo).parts
    }


def fresh_clone(tmp_path: Path, remote: Path, name: str = "server") -> Path:
    """What the server starts from: a new clone of the remote."""
    clone = tmp_path / name
    git(tmp_path, "clone", "--quiet", str(remote), str(clone))
    return clone


def make_local_work(work: Path) -> None:
    """Unpushed commits plus every kind of uncommitted change: edits, renames, deletions, new text and binary files."""
    (work / "feature.py").write_text("def feature():\n    return 1\n")
    commit_all(work, "add feature")
    (work / "feature.py").write_text("def feature():\n    return 2\n")
    commit_all(work, "tune feature")
    (work / "app.py").write_text((work / "app.py").read_text().replace("line 30\n", "line thirty\n"))
    git(work, "mv", "old_name.txt", "new_name.txt")
    (work / "gone.txt").unlink()
    (work / "notes.txt").write_text("an untracked note\n")
    (work / "pic.bin").write_bytes(b"\x89PNG\x00\x01\x02" * 50)
    (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (work / "run.sh").chmod(0o755)
    (work / "logo.bin").write_bytes(bytes(reversed(range(256))) * 4)
    (work / "debug.log").write_text("ignored\n")
    (work / "build").mkdir()
    (work / "build" / "out.txt").write_text("ignored too\n")
