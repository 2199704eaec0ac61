"""Fixtures for the webhook tests: the API in-process with private targets allowed, a loopback receiver."""

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from codeyard.api.app import create_app
from codeyard.cli.server import prepare
from tests.conftest import ApiEnv, make_settings
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
async def hooks_api(tmp_path: Path, migrated_template: Path) -> AsyncIterator[ApiEnv]:
    """Like ``api``, with ``CODEYARD_WEBHOOK_ALLOW_PRIVATE=true`` so a loopback receiver can be the target."""
    settings = make_settings(tmp_path / "data", public_url="http://testserver", webhook_allow_private=True)
    settings.data_dir.mkdir(parents=True)
    shutil.copyfile(migrated_template, settings.data_dir / "codeyard.db")
    db, services = await prepare(settings)
    app = create_app(settings, services)
    boot = json.loads((settings.data_dir / "bootstrap.json").read_text())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as client:
        yield ApiEnv(settings, services, db, client, boot["org_id"], boot["org_api_key"], boot["enterprise_api_key"])
    await db.dispose()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(hang_seconds=3.0) as r:
        yield r
