"""Client settings: constructor arguments first, then the environment (the names devin-handoff uses)."""

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx2

from codeyard.sdk._errors import ConfigurationError
from codeyard.sdk._request import Call
from codeyard.sdk._version import __version__

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
USER_AGENT = f"codeyard-sdk/{__version__}"


_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
"""What can follow `Bearer ` in a header: printable ASCII, no surrounding blanks."""


@dataclass(frozen=True)
class ClientOptions:
    """Where the API is and who is calling; the key is kept out of `repr` so it never lands in a log."""

    base_url: str
    api_key: str = field(repr=False)
    org_id: str | None
    max_retries: int
    timeout: float | httpx2.Timeout

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        api_key: str | None,
        org_id: str | None,
        *,
        max_retries: int,
        timeout: float | httpx2.Timeout,
    ) -> "ClientOptions":
        """Fill the unset settings from DEVIN_API_URL, DEVIN_API_KEY and DEVIN_ORG_ID."""
        # Surrounding whitespace is dropped: a key file saved with CRLF line ends leaves a `\r` that is not the key.
        key = (api_key or os.environ.get("DEVIN_API_KEY") or "").strip()
        if not key:
            raise ConfigurationError(
                "no API key: pass api_key= or set DEVIN_API_KEY "
                "(a new codeyard server writes one to <data dir>/bootstrap.env)"
            )
        if not _HEADER_SAFE.fullmatch(key):
            # Never quote the key: the message ends up on terminals and in logs.
            raise ConfigurationError("the API key contains characters other than printable ASCII: check DEVIN_API_KEY")
        url = (base_url or os.environ.get("DEVIN_API_URL") or DEFAULT_BASE_URL).strip()
        return cls(
            base_url=_checked_base_url(url),
            api_key=key,
            org_id=org_id or os.environ.get("DEVIN_ORG_ID") or None,
            max_retries=max_retries,
            timeout=timeout,
        )

    @property
    def org_base_url(self) -> str:
        """`/v3/organizations/{org_id}`, or `/v3/organizations` where an org-scoped key resolves its own org."""
        base = f"{self.base_url}/v3/organizations"
        return f"{base}/{self.org_id}" if self.org_id else base

    def url_for(self, call: Call[Any]) -> str:
        if call.url is not None:
            return urljoin(self.base_url + "/", call.url)
        root = self.org_base_url if call.scope == "org" else f"{self.base_url}/v3"
        return root + call.path

    def is_api_url(self, url: str) -> bool:
        """True for URLs of this API (they need the key); false for signed links, which must not get it."""
        return url.startswith(f"{self.base_url}/v3/")

    def headers(self, call: Call[Any]) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        # The key only ever goes to this API's own URLs, never to a signed link or a redirect target.
        if call.authenticated and (call.url is None or self.is_api_url(self.url_for(call))):
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def _checked_base_url(url: str) -> str:
    """`url` without a trailing slash, once it is known to be an absolute http(s) URL httpx can send to."""
    try:
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL as exc:
        raise ConfigurationError(f"the API URL {url!r} is not valid ({exc}): check DEVIN_API_URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"the API URL {url!r} must be an absolute http:// or https:// URL: check DEVIN_API_URL"
        )
    return url.rstrip("/")
