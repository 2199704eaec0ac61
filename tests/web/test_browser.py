"""The web app in a real browser (headless Chromium through Playwright): key entry, the sessions list, a live
step appearing while a scripted session runs, reply, stop, archive, a wrong key and an unknown session, and
attacks in the prompt and in command output staying inert. Screenshots at 1280 and 390 px wide."""

import json
import os
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import LiveServer
from tests.fakes.model_server import FakeModelServer, Step
from tests.web.conftest import skip_without_chromium

skip_without_chromium()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.slow  # a live server, Chromium and live steps: among the longest files

PHONE = {"width": 390, "height": 844}


def enter_key(page: Any, key: str) -> None:
    page.goto("/")
    page.fill("#key", key)
    page.keyboard.press("Enter")


def sign_in(page: Any, server: LiveServer) -> None:
    """Enter the key once, as a user would, and wait for the list."""
    enter_key(page, server.org_key)
    expect(page.locator("#content")).to_be_visible()


def create(api: httpx2.Client, prompt: str) -> dict[str, Any]:
    response = api.post("/sessions", json={"prompt": prompt})
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def status(api: httpx2.Client, session_id: str) -> tuple[str, str | None, bool]:
    s = api.get(f"/sessions/{session_id}").json()
    return s["status"], s["status_detail"], s["is_archived"]


def wait_status(api: httpx2.Client, session_id: str, wanted: set[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while status(api, session_id)[0] not in wanted:
        assert time.monotonic() < deadline, status(api, session_id)
        time.sleep(0.1)


def page_of(session: dict[str, Any]) -> str:
    return "/sessions/" + str(session["session_id"]).removeprefix("devin-")


def test_a_live_step_appears_while_the_session_runs(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer, shots: Path
) -> None:
    model_server.add_script(
        "LIVE-STEP",
        [
            Step.tool("run_command", {"command": "echo first-step-output && ls"}),
            Step.tool("write_file", {"path": "notes.md", "content": "# Notes\n\nline one\nline two\n"}),
            Step.tool("run_command", {"command": "sleep 6; echo slow-step-done"}),
            Step.tool("attach_file", {"path": "notes.md"}),
            Step.text("**Done**: wrote `notes.md`.\n\n- first\n- second"),
        ],
    )
    sign_in(page, server)
    session = create(api, "LIVE-STEP: write some notes")
    page.goto(page_of(session))
    step = page.locator("details.step", has_text="echo first-step-output")
    expect(step).to_be_visible()
    assert status(api, session["session_id"])[0] in {"claimed", "running"}  # it appeared while the session ran
    assert not step.evaluate("node => node.open")
    step.locator("summary").focus()
    page.keyboard.press("Enter")  # steps open from the keyboard
    expect(step.locator("pre")).to_contain_text("first-step-output")
    edit = page.locator("details.step", has_text="notes.md")
    edit.locator("summary").click()
    expect(edit.locator("pre.diff .add").first).to_be_visible()
    expect(edit.locator("pre.diff")).to_contain_text("+line one")

    final = page.locator("article.msg.devin")
    expect(final.locator("strong")).to_have_text("Done", timeout=60_000)  # markdown rendered by the server
    expect(final.locator("li")).to_have_count(2)
    expect(page.locator("details.step", has_text="sleep 6")).to_contain_text("exit 0")
    expect(page.locator("#status")).to_contain_text("finished")
    expect(page.locator("#attachments a")).to_have_text("notes.md")  # the agent's attachment, linked
    page.screenshot(path=str(shots / "session-1280.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(shots / "session-390.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"


def test_reply_reaches_the_agent(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer
) -> None:
    model_server.add_script(
        "ASK-ME",
        [Step.tool("ask_user", {"question": "Which *branch*?"}), Step.text("Using release-2 as you said.")],
    )
    session = create(api, "ASK-ME: prepare the release")
    sign_in(page, server)
    page.goto(page_of(session))
    expect(page.locator("article.msg.devin em")).to_have_text("branch", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("waiting for you")
    page.fill("#reply", "release-2 please")
    page.keyboard.press("Control+Enter")
    expect(page.locator("article.msg.user", has_text="release-2 please")).to_be_visible()
    expect(page.locator("article.msg.devin", has_text="Using release-2")).to_be_visible(timeout=60_000)
    expect(page.locator("#reply")).to_have_value("")
    expect(page.locator("#live")).to_have_text("ended")  # finished: the stream closed with the session
    page.fill("#reply", "one more thing")
    page.click("#send")  # a reply reopens the session and the page follows it again, resuming after its last event
    expect(page.locator("article.msg.devin")).to_have_count(3, timeout=60_000)
    expect(page.locator("#status")).to_contain_text("finished")
    ids = page.locator("#timeline [data-event]").evaluate_all("nodes => nodes.map(n => n.dataset.event)")
    assert len(ids) == len(set(ids))  # nothing shown twice across the reconnect
    messages = api.get(f"/sessions/{session['session_id']}/messages").json()["items"]
    assert [m["message"] for m in messages if m["source"] == "user"][1:] == ["release-2 please", "one more thing"]


def test_stop_then_archive(page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer) -> None:
    model_server.add_script("STOP-ME", [Step.tool("run_command", {"command": "echo started && sleep 60"})])
    session = create(api, "STOP-ME: run forever")
    sign_in(page, server)
    page.goto(page_of(session))
    wait_status(api, session["session_id"], {"running"})
    page.click("#stop")
    expect(page.locator("#stop")).to_have_text("Really stop?")
    page.click("#stop")
    expect(page.locator("#status")).to_contain_text("stopped")
    assert status(api, session["session_id"])[:2] == ("exit", "user_request")
    expect(page.locator("#reply")).to_be_disabled()
    page.locator("#archive").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # the second press confirms
    expect(page.locator("#status")).to_contain_text("archived")
    assert status(api, session["session_id"])[2] is True
    expect(page.locator("#archive")).to_be_disabled()


def test_archive_stops_a_waiting_session(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer
) -> None:
    model_server.add_script("ARCHIVE-ME", [Step.tool("ask_user", {"question": "Still there?"})])
    session = create(api, "ARCHIVE-ME: wait for me")
    sign_in(page, server)
    page.goto(page_of(session))
    expect(page.locator("#status")).to_contain_text("waiting for you", timeout=60_000)
    page.click("#archive")
    page.click("#archive")
    expect(page.locator("#status")).to_contain_text("archived")
    expect(page.locator("#send")).to_be_disabled()
    assert status(api, session["session_id"])[2] is True


def test_a_handoff_prompt_is_shown_as_a_summary(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer
) -> None:
    model_server.add_script("HANDOFF-TRY", [Step.text("Picked up the handed-off work.")])
    head = "c" * 40
    prompt = (
        "HANDOFF-TRY: finish the pagination\n\n## Local work handed off\n\n"
        "- Repository: https://github.com/acme/app.git (host github.com), remote `origin`\n"
        f"- Checked out: branch `feature/pages` at {head}\n"
        "- Unpushed commits: 1 (in the bundle)\n  - cccccccccccc Add cursor pagination\n"
        "- Uncommitted changes: none\n\n## Rebuilding this state\n\n1. fetch the bundle\n\n"
        '```codeyard-handoff\n{"version": 1, "remote_url": "https://github.com/acme/app.git", "branch": '
        f'"feature/pages", "base_sha": "{"d" * 40}", "head_sha": "{head}", "bundle": "handoff.bundle", '
        '"patch": null, "patch_inline": null}\n```\n'
    )
    session = create(api, prompt)
    sign_in(page, server)
    page.goto(page_of(session))
    card = page.locator("article.msg.user .handoff")
    expect(card).to_contain_text("feature/pages")
    expect(card).to_contain_text("Add cursor pagination")
    expect(page.locator("article.msg.user")).not_to_contain_text("patch_inline")
    expect(page.locator("article.msg.user")).not_to_contain_text("Rebuilding")


def test_a_wrong_key_and_an_unknown_session_get_clear_pages(page: Any, server: LiveServer) -> None:
    unknown = "/sessions/" + uuid.uuid4().hex
    page.goto(unknown)
    expect(page.locator("#keyform")).to_be_visible()
    page.fill("#key", "cog_wrong")
    page.keyboard.press("Enter")
    expect(page.locator("#keyform")).to_contain_text("refused")
    page.fill("#key", server.org_key)
    page.keyboard.press("Enter")
    expect(page.locator("#problem h1")).to_have_text("Session not found")
    expect(page.locator("#problem")).to_contain_text("another organization")
    expect(page.locator("#problem a")).to_have_attribute("href", "/")


def test_key_entry_then_the_sessions_list(  # its screenshot shows the sessions made above
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer, shots: Path
) -> None:
    model_server.add_script("LIST-ME", [Step.text("Listed.")])
    session = create(api, "LIST-ME: tidy the README")
    page.goto("/")
    expect(page.locator("#keyform")).to_be_visible()
    enter_key(page, "cog_not-a-real-key")
    expect(page.locator("#keyform")).to_contain_text("refused")
    page.fill("#key", server.org_key)
    page.keyboard.press("Enter")
    link = page.locator(f'a[href="{page_of(session)}"]')
    expect(link).to_contain_text("LIST-ME: tidy the README")
    assert server.org_key not in page.url
    page.screenshot(path=str(shots / "sessions-1280.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(shots / "sessions-390.png"), full_page=True)

    page.reload()  # the key was entered once: it is remembered
    expect(link).to_be_visible()
    link.focus()
    page.keyboard.press("Enter")  # keyboard navigation into the session
    expect(page.locator("#title")).to_have_text("LIST-ME: tidy the README")


def test_attacks_in_the_prompt_and_the_output_stay_inert(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer
) -> None:
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    model_server.add_script(
        "XSS-TRY",
        [
            Step.tool("run_command", {"command": f"printf '%s' '{payload}'"}),
            Step.tool("write_file", {"path": "x.html", "content": payload}),
            Step.text(
                f'Done [click](javascript:window.__pwned=3) {payload} <a href="javascript:window.__pwned=4">x</a>'
            ),
        ],
    )
    session = create(api, f"XSS-TRY: {payload} [link](javascript:window.__pwned=5)")
    sign_in(page, server)
    expect(page.locator("#sessions")).to_contain_text("XSS-TRY")  # the title, shown as text
    page.goto(page_of(session))
    expect(page.locator("article.msg.devin")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("finished")
    for step in page.locator("details.step").all():
        step.locator("summary").click()
    timeline = page.locator("#timeline")
    expect(timeline.locator("details.step pre").first).to_contain_text(payload)  # the output, as text
    expect(page.locator("article.msg.user")).to_contain_text("<script>window.__pwned=2</script>")
    for link in timeline.locator("a").all():  # whatever survived as a link does nothing when clicked
        link.click()
    assert timeline.locator("img, script, iframe, svg").count() == 0
    hrefs = [a.get_attribute("href") or "" for a in timeline.locator("a").all()]
    assert not [h for h in hrefs if h.lower().strip().startswith(("javascript:", "data:"))], hrefs
    assert page.evaluate("window.__pwned") is None


def make_repo(path: Path) -> str:
    path.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "base"]):
        if args[0] == "add":
            (path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, env=GIT_ENV)
    return str(path)


GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def test_the_hand_back_panel_shows_the_changes_with_downloads_and_commands(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer, shots: Path, tmp_path: Path
) -> None:
    app = make_repo(tmp_path / "app")
    odd = make_repo(tmp_path / "it's $(touch pwned) lib")  # a name a copied command must keep quoted
    model_server.add_script(
        "HAND-BACK",
        [
            Step.tool("run_command", {"command": "echo started"}),
            Step.tool(
                "run_command",
                {
                    "command": "sed -i 's/a - b/a + b/' calc.py && git commit -qam 'Fix add: it subtracted'",
                    "cwd": "app",
                },
            ),
            Step.tool("run_command", {"command": "echo '# wip' >> calc.py", "cwd": "it_s___touch_pwned__lib"}),
            Step.tool("ask_user", {"question": "Anything else?"}),
        ],
    )
    session = create_with(api, {"prompt": "HAND-BACK: fix add", "repos": [app, odd]})
    sid = session["session_id"]
    sign_in(page, server)
    page.goto(page_of(session))
    panel = page.locator("#handback")
    first = panel.locator('.repo[data-repo="0"]')
    expect(first).to_contain_text("Fix add: it subtracted", timeout=60_000)  # appeared live, no reload
    second = panel.locator('.repo[data-repo="1"]')
    expect(second).to_contain_text("uncommitted changes")
    expect(first).not_to_contain_text("uncommitted changes")
    expect(first).to_contain_text("1 commit")
    expect(first).to_contain_text("codeyard/" + sid)
    changes = api.get(f"/sessions/{sid}/changes").json()["items"]
    expect(first.locator("ul.commits")).to_contain_text(changes[0]["commits"][0]["sha"][:12])

    commands = first.locator(".cmd pre")
    expect(commands.nth(0)).to_have_text(f"codeyard sessions pull {sid} --repo {app}")
    expect(commands.nth(1)).to_have_text(f"git fetch {sid}-0.bundle +refs/heads/codeyard:refs/heads/codeyard/{sid}")
    quoted = "'" + odd.replace("'", "'\\''") + "'"
    expect(second.locator(".cmd pre").nth(0)).to_have_text(
        f"codeyard sessions pull {sid} --repo {quoted} --apply-patch"
    )
    expect(second.locator(".cmd pre").nth(1)).to_have_text(f"git apply {sid}-1.patch")
    expect(first.locator("button.download-patch")).to_have_count(0)  # nothing uncommitted there
    expect(second.locator("button.download-bundle")).to_have_count(0)  # no commit there

    with page.expect_download() as bundle_download:
        first.locator("button.download-bundle").click()
    bundle = bundle_download.value
    assert bundle.suggested_filename == f"{sid}-0.bundle"
    assert Path(bundle.path()).read_bytes() == api.get(f"/sessions/{sid}/changes/0.bundle").content
    with page.expect_download() as patch_download:
        second.locator("button.download-patch").click()
    patch = Path(patch_download.value.path()).read_text()
    assert "+# wip" in patch and patch == api.get(f"/sessions/{sid}/changes/1.patch").text
    assert server.org_key not in page.url and not (tmp_path / "pwned").exists()

    page.screenshot(path=str(shots / "session-changes-1280.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(shots / "session-changes-390.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"


def test_the_hand_back_panel_says_why_when_the_changes_cannot_be_read(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer, shots: Path, tmp_path: Path
) -> None:
    """The browser's request for ``…/changes`` is answered with a problem (as a server whose workspace is gone
    answers): the panel shows the problem's detail instead of staying hidden."""
    app = make_repo(tmp_path / "app")
    model_server.add_script("NO-CHANGES", [Step.text("Done here.")])
    session = create_with(api, {"prompt": "NO-CHANGES: look", "repos": [app]})
    detail = "the session's workspace is not on this server, and it has no checkpoint"
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": detail}

    def refuse(route: Any) -> None:
        route.fulfill(status=404, content_type="application/problem+json", body=json.dumps(problem))

    page.route("**/sessions/*/changes", refuse)
    sign_in(page, server)
    page.goto(page_of(session))
    expect(page.locator("#status")).to_contain_text("finished", timeout=60_000)
    expect(page.locator("#handback")).to_be_visible()
    expect(page.locator("#changes-error")).to_have_text("Could not read the agent's changes: " + detail)
    page.screenshot(path=str(shots / "session-changes-error-1280.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(shots / "session-changes-error-390.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"


def test_a_session_without_repositories_has_no_hand_back_panel(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer
) -> None:
    model_server.add_script("NO-REPOS", [Step.text("Nothing to hand back.")])
    session = create(api, "NO-REPOS: say hello")
    sign_in(page, server)
    page.goto(page_of(session))
    expect(page.locator("article.msg.devin")).to_contain_text("Nothing to hand back", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("finished")
    expect(page.locator("#handback")).to_be_hidden()


def create_with(api: httpx2.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/sessions", json=body)
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def test_pull_requests_are_listed_with_their_state_and_only_web_links(
    page: Any, server: LiveServer, api: httpx2.Client, model_server: FakeModelServer
) -> None:
    model_server.add_script("PR-LIST", [Step.text("Opened the pull requests.")])
    session = create(api, "PR-LIST: open two PRs")
    wait_status(api, session["session_id"], {"exit"})
    prs = [
        {"pr_url": "https://git.example.com/acme/app/pull/7", "pr_state": "merged"},
        {"pr_url": "javascript:window.__pwned=1//https://x", "pr_state": "open"},  # a hostile forge's answer
    ]
    with sqlite3.connect(server.data_dir / "codeyard.db", timeout=30) as db:
        db.execute("UPDATE sessions SET pull_requests = ? WHERE id = ?", (json.dumps(prs), session["session_id"]))
    sign_in(page, server)
    page.goto(page_of(session))
    items = page.locator("#prs li.pr")
    expect(items).to_have_count(2)
    expect(items.nth(0).locator("a")).to_have_attribute("href", "https://git.example.com/acme/app/pull/7")
    expect(items.nth(0).locator(".pr-state")).to_have_text("merged")
    expect(items.nth(1).locator("a")).to_have_count(0)  # shown as text, not a link
    expect(items.nth(1)).to_contain_text("javascript:window.__pwned=1")
    items.nth(1).locator("span").first.click()
    assert page.evaluate("window.__pwned") is None
