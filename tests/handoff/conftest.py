"""Real git repositories for the handoff tests: a bare remote on disk and a user's clone of it."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.handoff.repos import commit_all, git


def _isolate(patch: pytest.MonkeyPatch, config: Path) -> None:
    patch.setenv("GIT_CONFIG_GLOBAL", str(config))
    patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        patch.setenv(f"GIT_{role}_NAME", "Test User")
        patch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


@pytest.fixture(scope="session")
def git_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tmp_path_factory.mktemp("git") / "gitconfig"
    config.write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    return config


@pytest.fixture(autouse=True)
def isolated_git(git_config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's git configuration; commits get a fixed identity. Function-scoped, so the
    environment is restored after each test and tests elsewhere never inherit it."""
    _isolate(monkeypatch, git_config)
    yield


@pytest.fixture(scope="session")
def remote_template(tmp_path_factory: pytest.TempPathFactory, git_config: Path) -> Path:
    """A bare repository holding one pushed commit on `main`, built once and copied for each test."""
    with pytest.MonkeyPatch.context() as patch:  # built before any test's own environment is set
        _isolate(patch, git_config)
        root = tmp_path_factory.mktemp("template")
        bare, seed = root / "remote.git", root / "seed"
        git(root, "init", "--quiet", "--bare", str(bare))
        git(root, "init", "--quiet", str(seed))
        (seed / "README.md").write_text("# demo\n")
        (seed / "app.py").write_text("".join(f"line {n}\n" for n in range(1, 51)))
        (seed / "old_name.txt").write_text("to be renamed\n")
        (seed / "gone.txt").write_text("to be deleted\n")
        (seed / "logo.bin").write_bytes(bytes(range(256)) * 4)
        (seed / ".gitignore").write_text("*.log\nbuild/\n")
        commit_all(seed, "initial")
        git(seed, "push", "--quiet", str(bare), "main")
        return bare


@pytest.fixture
def remote(tmp_path: Path, remote_template: Path) -> Path:
    """This test's own copy of the bare remote."""
    return Path(shutil.copytree(remote_template, tmp_path / "remote.git"))


@pytest.fixture
def work(tmp_path: Path, remote: Path) -> Path:
    """The user's clone of `remote`, on `main` tracking `origin/main`."""
    clone = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(remote), str(clone))
    return clone
