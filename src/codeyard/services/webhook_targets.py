"""Where a webhook may be delivered: ``http(s)`` URLs whose every address is public, unless the server allows
private targets (``CODEYARD_WEBHOOK_ALLOW_PRIVATE``). Checked when a webhook is saved and again, after a fresh
DNS resolution, before every delivery; the delivery then connects to the address that was checked."""

import asyncio
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from codeyard.domain.addresses import Address, parse, refused
from codeyard.errors import FieldError

MAX_URL = 2048


@dataclass(frozen=True)
class Target:
    url: SplitResult
    addresses: list[Address]
    """Every address the host resolved to, all of them allowed; the first is the one to connect to."""

    @property
    def host(self) -> str:
        return self.url.hostname or ""

    @property
    def port(self) -> int:
        return self.url.port or (443 if self.url.scheme == "https" else 80)


class TargetRefused(Exception):
    """The URL is malformed, its host does not resolve, or it points at a private address."""


def parse_url(url: str) -> SplitResult:
    """The URL split, when it is an absolute ``http(s)`` URL without credentials; else ``TargetRefused``."""
    if len(url) > MAX_URL or any(c in url for c in "\r\n\t\0 "):
        raise TargetRefused("the URL is too long or contains whitespace")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    try:
        _ = parts.port
    except ValueError as exc:
        raise TargetRefused("the URL's port is not valid") from exc
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry credentials (the deliveries are signed instead)")
    return parts


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The URL with its checked addresses; ``TargetRefused`` says why it may not be reached."""
    parts = parse_url(url)
    host = parts.hostname or ""
    literal = parse(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"the host {host[:200]} does not resolve") from exc
        found = [parse(str(info[4][0])) for info in infos]
        addresses = list(dict.fromkeys(a for a in found if a is not None))
        if not addresses:
            raise TargetRefused(f"the host {host[:200]} does not resolve")
    if not allow_private:
        bad = refused(addresses)
        if bad:
            raise TargetRefused(
                f"the host {host[:200]} resolves to {bad[0]}, a loopback, private or link-local address; "
                "the server refuses those unless CODEYARD_WEBHOOK_ALLOW_PRIVATE=true"
            )
    return Target(parts, addresses)


async def check(url: str, *, allow_private: bool) -> None:
    """For the API: a refused URL is a 422 naming the ``url`` field."""
    try:
        await resolve(url, allow_private=allow_private)
    except TargetRefused as exc:
        raise FieldError("url", str(exc)) from exc
