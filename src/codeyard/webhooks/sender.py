"""One HTTP attempt: resolve and check the target again, connect to the checked address, never follow a
redirect, never use a proxy from the environment, give up after the timeout."""

import asyncio
import json
import time
from dataclasses import replace
from urllib.parse import urlunsplit

import httpx2

from codeyard.services import webhook_targets
from codeyard.services.webhooks import Job, Outcome
from codeyard.webhooks import signing

USER_AGENT = "codeyard-webhooks/1"
MAX_ANSWER_BYTES = 64 * 1024


class Sender:
    def __init__(self, *, timeout: float, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            limits=httpx2.Limits(max_connections=64, max_keepalive_connections=16),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, job: Job, now: float) -> Outcome:
        """One attempt, with how long it took."""
        started = time.monotonic()
        outcome = await self._attempt(job, now)
        return replace(outcome, duration=time.monotonic() - started)

    async def _attempt(self, job: Job, now: float) -> Outcome:
        try:
            target = await webhook_targets.resolve(job.url, allow_private=self.allow_private)
        except webhook_targets.TargetRefused as exc:
            return Outcome(None, f"refused: {exc}")
        address = target.addresses[0]
        host = f"[{address}]" if address.version == 6 else str(address)
        parts = target.url
        url = urlunsplit((parts.scheme, f"{host}:{target.port}", parts.path or "/", parts.query, ""))
        body = json.dumps(job.body, separators=(",", ":"), ensure_ascii=False)
        default_port = 443 if parts.scheme == "https" else 80
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.host if target.port == default_port else f"{target.host}:{target.port}",
            **signing.headers(job.secret, job.message_id, body, now),
        }
        extensions = {"sni_hostname": target.host} if parts.scheme == "https" else {}
        try:
            async with (
                asyncio.timeout(self.timeout),  # the whole attempt, even against a target that drips its answer
                self.client.stream(
                    "POST", url, content=body.encode(), headers=headers, extensions=extensions
                ) as response,
            ):
                status = response.status_code
                read = 0
                async for chunk in response.aiter_raw():  # drained, so the connection is kept for the next one
                    read += len(chunk)
                    if read > MAX_ANSWER_BYTES:
                        break  # a huge answer is not read: the connection is closed instead
        except (httpx2.TimeoutException, TimeoutError):
            return Outcome(None, "timed out")
        except httpx2.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {str(exc)[:500]}")
        if 300 <= status < 400:
            return Outcome(status, "redirect not followed")
        return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")
