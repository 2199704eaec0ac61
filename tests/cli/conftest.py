"""The CLI's remote commands are tested against the scripted Devin API server (``tests.sdk.fake_api``): here
``api`` is that server, reset for each test (not the in-process ``ApiEnv`` of ``tests/conftest.py``)."""

from collections.abc import Iterator

import pytest

from tests.sdk.fake_api import FakeAPI


@pytest.fixture(scope="module")
def api_server() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


@pytest.fixture
def api(api_server: FakeAPI) -> FakeAPI:
    api_server.reset()
    return api_server
