"""Fixtures: one scripted API server per test session (reset for each test) and clients pointed at it."""

from collections.abc import AsyncIterator, Iterator

import pytest

from codeyard.sdk import AsyncClient, Client
from tests.sdk.fake_api import API_KEY, ORG, FakeAPI


@pytest.fixture(autouse=True)
def clean_devin_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own DEVIN_* settings must not leak into the tests."""
    for name in ("DEVIN_API_URL", "DEVIN_API_KEY", "DEVIN_ORG_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def api_server() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


@pytest.fixture
def api(api_server: FakeAPI) -> FakeAPI:
    api_server.reset()
    return api_server


@pytest.fixture
def client(api: FakeAPI) -> Iterator[Client]:
    with Client(api.url, API_KEY, ORG) as c:
        yield c


@pytest.fixture
async def aclient(api: FakeAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(api.url, API_KEY, ORG) as c:
        yield c
