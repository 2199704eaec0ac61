"""The CLI's remote commands are tested against the scripted Devin API server (``tests.sdk.fake_api``): here
``api`` is that server, reset for each test (not the in-process ``ApiEnv`` of ``tests/conftest.py``); the fixtures
are the SDK tests' own."""

from tests.sdk.conftest import api, api_server

__all__ = ["api", "api_server"]
