"""Which remote a ``repos`` entry means, and the credentials of the org's git connection for its host.

Credentials reach git only through its environment-only configuration (``GIT_CONFIG_COUNT`` /
``GIT_CONFIG_KEY_n`` / ``GIT_CONFIG_VALUE_n`` setting ``http.extraHeader``): never in a URL, never in a config
file, never in the sandbox. Redirects are not followed with them, so a header meant for one host never reaches
another.
"""

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from codeyard.services.git_connections import Credentials

_AUTH_FAILURE = re.compile(
    r"authentication failed|returned error: 40[13]|http 40[13]|could not read (?:username|password)"
    r"|terminal prompts disabled|invalid username or password|access denied",
    re.IGNORECASE,
)
_DEFAULT_USER = {"github": "x-access-token", "gitlab": "oauth2"}


@dataclass(frozen=True)
class Remote:
    entry: str
    """The ``repos`` entry as given."""
    url: str
    """Where to clone and push, without credentials."""
    host: str | None
    """``host[:port]`` of an http(s) remote, else ``None``."""
    project: str
    """The repository's path on its host (``owner/repo``), without ``.git``."""
    credentials: Credentials | None


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` removed (URLs only; other forms are returned unchanged)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def host_of(url: str) -> str | None:
    if not url.startswith(("https://", "http://")):
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return parts.hostname.lower() + (f":{parts.port}" if parts.port else "")


def project_of(url: str) -> str:
    path = urlsplit(url).path if "://" in url else url.rpartition(":")[2]
    return path.strip("/").removesuffix(".git")


def remote_for(entry: str, url: str, connections: Mapping[str, Credentials]) -> Remote:
    host = host_of(url)
    clean = without_credentials(url)
    return Remote(entry, clean, host, project_of(clean), connections.get(host) if host else None)


def auth_env(credentials: Credentials) -> dict[str, str]:
    """The environment that makes git send the connection's token to its host, and only there."""
    user = credentials.username or _DEFAULT_USER.get(credentials.kind, "codeyard")
    basic = base64.b64encode(f"{user}:{credentials.token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_CONFIG_KEY_1": "http.followRedirects",
        "GIT_CONFIG_VALUE_1": "false",
    }


def refused(host: str) -> str:
    return f"the git connection for {host} was refused: check its token"


def is_auth_failure(git_output: str) -> bool:
    return bool(_AUTH_FAILURE.search(git_output))


class CloneAuth:
    """What ``workspace.prepare`` needs to clone with the org's connections."""

    def __init__(self, connections: Mapping[str, Credentials]) -> None:
        self.connections = dict(connections)

    def env_for(self, url: str) -> dict[str, str]:
        host = host_of(url)
        credentials = self.connections.get(host) if host else None
        return auth_env(credentials) if credentials else {}

    def explain(self, url: str, error: str) -> str | None:
        """The plain message for a clone that failed because the connection was refused (no token in it)."""
        host = host_of(url)
        if host and host in self.connections and is_auth_failure(error):
            return refused(host)
        return None

    def secrets(self) -> dict[str, str]:
        """Each token (and its basic-auth form) by a name, for redaction and the secret scan."""
        found: dict[str, str] = {}
        for host, credentials in self.connections.items():
            found[f"git connection token for {host}"] = credentials.token
            header = auth_env(credentials)["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: Basic ")
            found[f"git connection header for {host}"] = header
        return found
