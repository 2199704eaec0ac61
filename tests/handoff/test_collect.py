"""collect(): what a handoff carries, read from real repositories without changing them."""

import os
import subprocess
from pathlib import Path

import pytest

from codeyard.handoff.collect import CollectError, collect, split_remote_url
from codeyard.handoff.manifest import INLINE_LIMIT, PATCH_NAME, manifest_for
from codeyard.handoff.prompt import summary_lines
from tests.handoff.repos import commit_all, fresh_clone, git, make_local_work, tree_snapshot


def test_a_clean_clone_carries_nothing_but_its_position(work: Path, remote: Path) -> None:
    collected = collect(work)

    head = git(work, "rev-parse", "HEAD")
    assert (collected.remote_name, collected.remote_url, collected.host) == ("origin", str(remote), None)
    assert (collected.branch, collected.upstream) == ("main", "origin/main")
    assert collected.head_sha == collected.base_sha == head
    assert collected.base_on_remote
    assert (collected.commits, collected.bundle, collected.patch, collected.files) == ((), None, b"", ())


def test_every_kind_of_local_change_is_collected(work: Path, remote: Path) -> None:
    pushed = git(work, "rev-parse", "origin/main")
    make_local_work(work)

    collected = collect(work / "build")  # any directory inside the work tree will do

    assert collected.repo_dir == work
    assert collected.base_sha == pushed
    assert collected.head_sha == git(work, "rev-parse", "HEAD")
    assert [c.subject for c in collected.commits] == ["add feature", "tune feature"]
    kinds = {change.path: (change.kind, change.old_path, change.binary) for change in collected.files}
    assert kinds == {
        "app.py": ("modified", None, False),
        "new_name.txt": ("renamed", "old_name.txt", False),
        "gone.txt": ("deleted", None, False),
        "notes.txt": ("added", None, False),
        "pic.bin": ("added", None, True),
        "run.sh": ("added", None, False),
        "logo.bin": ("modified", None, True),
    }
    assert collected.has_binary_changes
    assert b"GIT binary patch" in collected.patch
    assert b"debug.log" not in collected.patch and b"build/out.txt" not in collected.patch


def test_the_bundle_holds_exactly_the_unpushed_commits(work: Path, tmp_path: Path) -> None:
    make_local_work(work)
    collected = collect(work)
    assert collected.bundle is not None
    bundle = tmp_path / "check.bundle"
    bundle.write_bytes(collected.bundle)

    heads = git(work, "bundle", "list-heads", str(bundle))
    assert heads == f"{collected.head_sha} HEAD"
    listed = git(work, "rev-list", collected.head_sha, f"^{collected.base_sha}").split()
    assert sorted(listed) == sorted(c.sha for c in collected.commits)


def test_the_users_index_and_working_tree_are_untouched(work: Path) -> None:
    make_local_work(work)
    git(work, "add", "notes.txt")  # something staged, so a rewritten index would show
    index = work / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns, tree_snapshot(work), git(work, "ls-files", "--stage"))

    collect(work)

    after = (index.read_bytes(), index.stat().st_mtime_ns, tree_snapshot(work), git(work, "ls-files", "--stage"))
    assert after == before
    assert "?? pic.bin" in git(work, "status", "--porcelain")


def test_a_detached_head_has_no_branch_but_still_a_base(work: Path) -> None:
    pushed = git(work, "rev-parse", "HEAD")
    (work / "feature.py").write_text("x = 1\n")
    head = commit_all(work, "local only")
    git(work, "checkout", "--quiet", "--detach", head)

    collected = collect(work)

    assert collected.branch is None
    assert collected.upstream is None
    assert (collected.base_sha, collected.head_sha) == (pushed, head)
    assert collected.base_on_remote
    assert [c.sha for c in collected.commits] == [head]


def test_a_new_branch_without_upstream_is_based_on_what_the_remote_has(work: Path) -> None:
    pushed = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "--quiet", "-b", "feature/x")
    (work / "feature.py").write_text("x = 1\n")
    commit_all(work, "on a new branch")

    collected = collect(work)

    assert (collected.branch, collected.upstream, collected.remote_name) == ("feature/x", None, "origin")
    assert collected.base_sha == pushed
    assert len(collected.commits) == 1


def test_without_a_remote_the_bundle_holds_the_whole_history(tmp_path: Path) -> None:
    repo = tmp_path / "solo"
    git(tmp_path, "init", "--quiet", str(repo))
    (repo / "a.txt").write_text("a\n")
    commit_all(repo, "one")
    (repo / "a.txt").write_text("b\n")
    head = commit_all(repo, "two")

    collected = collect(repo)

    assert (collected.remote_name, collected.remote_url, collected.host) == (None, None, None)
    assert not collected.base_on_remote
    assert collected.base_sha == head
    assert [c.subject for c in collected.commits] == ["one", "two"]
    bundle = tmp_path / "solo.bundle"
    bundle.write_bytes(collected.bundle or b"")
    verified = subprocess.run(["git", "bundle", "verify", str(bundle)], cwd=repo, capture_output=True, check=False)
    assert b"records a complete history" in verified.stdout + verified.stderr


def test_a_huge_diff_is_attached_whole(work: Path) -> None:
    lines = [f"generated line {n:06d}\n" for n in range(20_000)]
    (work / "big.txt").write_text("".join(lines))

    collected = collect(work)
    manifest = manifest_for(collected)

    assert len(collected.patch) > INLINE_LIMIT
    assert (manifest.patch, manifest.patch_inline) == (PATCH_NAME, None)
    added = [line for line in collected.patch.decode().splitlines() if line.startswith("+generated")]
    assert len(added) == 20_000 and added[-1] == "+generated line 019999"


def test_a_small_text_patch_goes_inline(work: Path) -> None:
    (work / "README.md").write_text("# demo, edited\n")
    manifest = manifest_for(collect(work))
    assert manifest.patch is None
    assert manifest.patch_inline is not None and "+# demo, edited" in manifest.patch_inline


@pytest.mark.parametrize(
    ("url", "clean", "host"),
    [
        ("https://user:ghp_secret@github.com/o/r.git", "https://github.com/o/r.git", "github.com"),
        (
            "https://oauth2:glpat-x@gitlab.example.com:8443/g/r",
            "https://gitlab.example.com:8443/g/r",
            "gitlab.example.com",
        ),
        ("ssh://git:pw@ghe.corp:2222/o/r.git", "ssh://git@ghe.corp:2222/o/r.git", "ghe.corp"),
        ("git@bitbucket.org:o/r.git", "git@bitbucket.org:o/r.git", "bitbucket.org"),
        ("/srv/git/r.git", "/srv/git/r.git", None),
        ("file:///srv/git/r.git", "file:///srv/git/r.git", None),
    ],
)
def test_remote_urls_keep_their_host_and_lose_their_credentials(url: str, clean: str, host: str | None) -> None:
    assert split_remote_url(url) == (clean, host)


def test_outside_a_work_tree_or_before_the_first_commit_collecting_refuses(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(CollectError, match="not inside a git work tree"):
        collect(plain)
    git(plain, "init", "--quiet")
    with pytest.raises(CollectError, match="no commit yet"):
        collect(plain)


def test_a_change_made_in_the_same_instant_as_the_index_is_not_missed(work: Path) -> None:
    # Git trusts an entry's stat data unless the file is as new as the index itself ("racy git"), so the temporary
    # index must keep the real one's timestamp. ctime is ignored here so only mtimes decide.
    git(work, "config", "core.trustctime", "false")
    readme, index = work / "README.md", work / ".git" / "index"
    old = readme.stat().st_mtime_ns - 100 * 10**9
    os.utime(readme, ns=(old, old))
    git(work, "update-index", "--refresh")  # the entry now records `old`, in an index written later
    readme.write_text("# demX\n")  # same size as "# demo\n"
    os.utime(readme, ns=(old, old))
    os.utime(index, ns=(old, old))

    collected = collect(work)

    assert [(change.kind, change.path) for change in collected.files] == [("modified", "README.md")]


def git_dir_snapshot(repo: Path) -> dict[str, int]:
    """Every file and directory under `.git` with its modification time."""
    root = repo / ".git"
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in [root, *root.rglob("*")]}


@pytest.mark.parametrize("split_index", [False, True])
def test_collecting_writes_nothing_under_dot_git(work: Path, split_index: bool) -> None:
    if split_index:
        git(work, "config", "core.splitIndex", "true")
        git(work, "update-index", "--split-index")
        assert list((work / ".git").glob("sharedindex.*")), "the repository really uses a split index"
    make_local_work(work)
    git(work, "add", "notes.txt")
    before = git_dir_snapshot(work)

    collected = collect(work)

    assert git_dir_snapshot(work) == before
    assert {"pic.bin", "run.sh", "notes.txt"} <= {change.path for change in collected.files}


def test_the_users_diff_settings_do_not_change_the_patch(work: Path, remote: Path, tmp_path: Path) -> None:
    for key, value in [("diff.context", "0"), ("diff.noprefix", "true"), ("diff.mnemonicPrefix", "true")]:
        git(work, "config", key, value)
    (work / "app.py").write_text((work / "app.py").read_text().replace("line 30\n", "line thirty\n"))

    patch = collect(work).patch.decode()

    assert "diff --git a/app.py b/app.py" in patch and "--- a/app.py\n+++ b/app.py" in patch
    assert "@@ -27,7 +27,7 @@ line 26\n line 27\n line 28\n line 29\n-line 30\n+line thirty\n line 31\n" in patch
    server = fresh_clone(tmp_path, remote)
    git(server, "apply", "--check", "-", stdin=patch.encode())


def test_a_file_name_that_is_not_utf8_is_shown_escaped_and_sent_as_it_is(work: Path) -> None:
    name = b"caf\xe9.txt"
    (work / os.fsdecode(name)).write_text("bonjour\n")

    collected = collect(work)

    [change] = collected.files
    assert change.describe() == "added caf\\xe9.txt"
    assert b"+++ b/caf\xe9.txt" in collected.patch
    assert "caf\\xe9.txt" in "\n".join(summary_lines(collected))


def test_nested_repositories_and_work_inside_submodules_are_listed_as_not_sent(work: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    git(tmp_path, "init", "--quiet", str(library))
    (library / "lib.py").write_text("x = 1\n")
    commit_all(library, "library")
    git(work, "-c", "protocol.file.allow=always", "submodule", "add", "--quiet", str(library), "vendor/lib")
    commit_all(work, "add the submodule")
    (work / "vendor" / "lib" / "lib.py").write_text("x = 2\n")  # uncommitted, inside the submodule
    nested = work / "tools" / "inner"
    nested.mkdir(parents=True)
    git(nested, "init", "--quiet")
    (nested / "tool.py").write_text("y = 1\n")

    collected = collect(work)

    assert collected.not_sent == (
        "nested repository tools/inner/ (its own git repository: none of its files)",
        "uncommitted changes inside submodule vendor/lib",
    )
    assert b"-dirty" not in collected.patch and b"tool.py" not in collected.patch
    summary = "\n".join(summary_lines(collected))
    assert "Not sent (left out of the handoff):\n  - nested repository tools/inner/" in summary
    assert "  - uncommitted changes inside submodule vendor/lib" in summary
