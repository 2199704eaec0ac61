"""Fixtures for the browser tests: a real ``codeyard serve`` running sessions against the scripted model, and
headless Chromium driven by Playwright for Python (Debian's ``/usr/bin/chromium``; Playwright's own browser
download is not used). Without Chromium the tests are skipped, saying so."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.fakes.model_server import FakeModelServer

CHROMIUM = os.environ.get("CODEYARD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def skip_without_chromium() -> None:
    """Skip the calling test module, saying why, when Chromium or Playwright is missing."""
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_server: FakeModelServer) -> Iterator[LiveServer]:
    env = {
        "CODEYARD_MODEL": "openai:scripted",
        "CODEYARD_MODEL_BASE_URL": model_server.base_url,
        "CODEYARD_MODEL_API_KEY": "test-model-key",
        "CODEYARD_MODEL_MAX_RETRIES": "2",
        "CODEYARD_SCHEDULER_ENABLED": "false",
        "CODEYARD_WEBHOOKS_ENABLED": "false",
        "CODEYARD_COMMAND_TIMEOUT": "120",
    }
    live = start_server(tmp_path_factory.mktemp("web") / "data", env)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no stored key) on the server; fails the test on any CSP violation or page error."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert problems == [], problems


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx2.Client]:
    base = f"{server.url}/v3/organizations/{server.org_id}"
    with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {server.org_key}"}, timeout=30) as client:
        yield client


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``SCREENSHOT_DIR`` (to refresh docs/screenshots), else a temp dir."""
    target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target
