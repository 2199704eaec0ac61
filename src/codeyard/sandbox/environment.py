"""The environment a command starts with.

Built from nothing, never from ``os.environ``: the server's model keys, database URL and secret key must
not reach a command. Secrets arrive only through ``extra``, which the agent fills per session.
"""

from collections.abc import Mapping

from codeyard.sandbox.base import SandboxError

SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"


def command_environment(home: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The base variables plus ``extra`` (which may override them). Errors name the variable, never its value."""
    env = {"PATH": SEARCH_PATH, "HOME": home, "LANG": "C.UTF-8", "TERM": "dumb"}
    for name, value in (extra or {}).items():
        if not name or "=" in name or "\0" in name:
            raise SandboxError(f"invalid environment variable name {name!r}")
        if "\0" in value:
            raise SandboxError(f"environment variable {name} contains a NUL byte")
        env[name] = value
    return env
