"""Clones the server makes for a session's ``repos``, under an egress policy (contract §5, docs/security.md).

- Remote clones use https only (plain http too when private targets are allowed, for a server on the local
  network); ssh only with a git connection's own key (``CloneAuth.ssh_command``), never the server's keys.
- The host name is resolved once and every address checked: loopback, private, link-local and other
  non-public addresses are refused unless ``CODEYARD_CLONE_ALLOW_PRIVATE``; git is then pinned to exactly the
  checked addresses (``http.curloptResolve``), so a second resolution cannot point elsewhere, and redirects are
  not followed. ssh is pinned the same way: the connection's ssh command gets ``-o HostName=<the first checked
  address>`` (the host key still looked up under the name, ``HostKeyAlias``) and no proxy command or jump host.
- git runs with a clean environment: no SSH agent, no credential helpers, no askpass, no system or global
  configuration, ``HOME`` an empty directory, no terminal prompt, no hooks.
- A clone is bounded in time (a low-speed limit and an overall timeout) and in size; every failure to reach or
  read the remote is reported with one generic text, so the error never tells an open port from a closed one.
- Local repositories are cloned with ``--no-local``: objects are copied through git's transport, never hard
  linked or borrowed through alternates, so a session cannot change the source's objects.

``CloneAuth`` is the seam for git connections: the runner passes the connection's headers or ssh command.
"""

import asyncio
import contextlib
import ipaddress
import os
import re
import shlex
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from codeyard.errors import CodeyardError

log = structlog.get_logger("codeyard.runner.clone")

_SCP_LIKE = re.compile(r"^(?:(?P<user>[A-Za-z0-9_.-]+)@)?(?P<host>[A-Za-z0-9_.-]+):(?P<path>[^\s]+)$")
_SAFE_CONFIG = (
    "protocol.ext.allow=never",
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "credential.helper=",
    "core.askPass=",
    "http.followRedirects=false",
    "submodule.recurse=false",
)
_SIZE_POLL = 0.5


class CloneError(CodeyardError):
    """A repository could not be cloned; the message is safe to show to the session's user. ``output`` is what git
    said, for the log and for telling a refused git connection apart (never shown as it is)."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class CloneAuth:
    """Credentials for one clone, from a git connection (never from the server's own environment)."""

    http_headers: Sequence[str] = ()
    """Extra HTTP headers such as ``Authorization: Basic …`` (sent as ``http.extraHeader``)."""
    ssh_command: str | None = None
    """``GIT_SSH_COMMAND`` using the connection's key (``-F /dev/null -o IdentitiesOnly=yes -o IdentityAgent=none
    -i <key>``); ssh URLs are refused without it."""
    env: Mapping[str, str] = field(default_factory=dict)
    """More variables for git (for example ``GIT_SSH_VARIANT``)."""


@dataclass(frozen=True)
class ClonePolicy:
    allow_private: bool = False
    """Whether remote clones may reach loopback, private and link-local addresses (and use plain http)."""
    timeout: float = 600.0
    """Longest one clone may take, in seconds."""
    max_bytes: int = 2 * 1024**3
    """Largest a clone may grow on disk (objects and checkout)."""
    low_speed_limit: int = 1000
    low_speed_time: int = 60
    """A transfer slower than ``low_speed_limit`` bytes/s for ``low_speed_time`` seconds is abandoned."""


def generic_failure(shown: str) -> str:
    return (
        f"could not clone {shown}: the repository is unreachable, does not exist, "
        "or needs credentials this server does not have"
    )


def shown_url(url: str) -> str:
    """``url`` without a user name or password, for messages and logs."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()[:300]
    return url[:300]


def clean_env(home: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a server-side git: nothing of the server's own credentials or configuration."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "XDG_CONFIG_HOME": home,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": "false",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_ALLOW_PROTOCOL": "https",
    }
    env.update(extra or {})
    return env


def safe_config() -> list[str]:
    return [arg for item in _SAFE_CONFIG for arg in ("-c", item)]


@dataclass(frozen=True)
class Target:
    """A remote checked against the policy: the URL to clone and how git must run for it."""

    url: str
    protocol: str
    config: tuple[str, ...] = ()
    ssh_options: tuple[str, ...] = ()
    """Options that pin ssh to the checked address; they go first, so nothing later overrides them."""


async def check_remote(url: str, policy: ClonePolicy, auth: CloneAuth | None = None) -> Target:
    """``url`` allowed by the policy, with its host's addresses resolved, checked and pinned; ``CloneError`` if not."""
    shown = shown_url(url)
    scp = _SCP_LIKE.match(url) if "://" not in url else None
    if scp is not None:
        scheme, host, port = "ssh", scp["host"], 22
    else:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        try:
            port = parts.port or {"https": 443, "http": 80, "ssh": 22}.get(scheme, 0)
        except ValueError as exc:
            raise CloneError(f"{shown} has an invalid port") from exc
    allowed = (
        {"https"} | ({"http"} if policy.allow_private else set()) | ({"ssh"} if auth and auth.ssh_command else set())
    )
    if scheme not in allowed:
        hint = " (ssh needs a git connection for its host)" if scheme == "ssh" else ""
        raise CloneError(f"{shown}: this server clones over {', '.join(sorted(allowed))} only{hint}")
    if not host:
        raise CloneError(f"{shown} names no host")
    addresses = await _resolve(host, port, shown)
    if not policy.allow_private:
        for address in addresses:
            if not _public(address):
                raise CloneError(
                    f"{shown} points to a loopback, private or link-local address, which this server does not clone "
                    "from (CODEYARD_CLONE_ALLOW_PRIVATE)"
                )
    config: tuple[str, ...] = ()
    if scheme in ("http", "https") and not _is_ip(host):
        pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
        config = ("-c", f"http.curloptResolve={host}:{port}:{pinned}")
    ssh_options: tuple[str, ...] = ()
    if scheme == "ssh":
        pinned_to = addresses[0].split("%", 1)[0] if not _is_ip(host) else host.strip("[]")
        ssh_options = tuple(
            arg
            for option in (
                f"HostName={pinned_to}",
                f"HostKeyAlias={host}",
                "CheckHostIP=no",
                "ProxyCommand=none",
                "ProxyJump=none",
                "CanonicalizeHostname=no",
            )
            for arg in ("-o", option)
        )
    return Target(url, scheme, config, ssh_options)


def pinned_ssh_command(ssh_command: str, options: Sequence[str]) -> str:
    """``ssh_command`` with ``options`` right after the program: ssh keeps the first value it reads for an
    option, so the pin holds whatever the command says later."""
    words = shlex.split(ssh_command)
    if not words:
        raise CloneError("the git connection's ssh command is empty")
    return shlex.join([words[0], *options, *words[1:]])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def _resolve(host: str, port: int, shown: str) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 30)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise CloneError(generic_failure(shown)) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise CloneError(generic_failure(shown))
    return addresses


async def clone_remote(
    url: str, dest: Path, policy: ClonePolicy, auth: CloneAuth | None = None, *, shown: str | None = None
) -> None:
    """Clone a remote repository into ``dest`` (which must not exist) under the egress policy."""
    target = await check_remote(url, policy, auth)
    extra: dict[str, str] = {"GIT_ALLOW_PROTOCOL": target.protocol, **(auth.env if auth else {})}
    if auth and auth.ssh_command and target.protocol == "ssh":
        extra["GIT_SSH_COMMAND"] = pinned_ssh_command(auth.ssh_command, target.ssh_options)
        extra.setdefault("GIT_SSH_VARIANT", "ssh")  # the pin is OpenSSH's syntax
    config = [*target.config]
    for header in auth.http_headers if auth else ():
        config += ["-c", f"http.extraHeader={header}"]
    config += ["-c", f"http.lowSpeedLimit={policy.low_speed_limit}", "-c", f"http.lowSpeedTime={policy.low_speed_time}"]
    await _run_clone(url, dest, policy, config, extra, shown or shown_url(url), local=False)


async def clone_local(
    path: Path, dest: Path, policy: ClonePolicy, *, shown: str | None = None, source_fd: int | None = None
) -> None:
    """Clone a local repository without hard links or alternates (``--no-local``). ``source_fd``: an open
    descriptor on the checked git dir, which git then reads instead of ``path`` (``/proc/self/fd``).

    Through the descriptor git must read exactly that directory: a plain path makes ``git clone`` try
    ``<path>/.git`` first, which the agent could plant inside the checked git dir (a ``gitdir:`` file naming
    another repository). So the descriptor goes as a ``file://`` URL to ``git-upload-pack --strict``, which
    appends nothing."""
    url, options = str(path), tuple[str, ...]()
    if source_fd is not None:
        url, options = f"file:///proc/self/fd/{source_fd}", ("--upload-pack=git-upload-pack --strict",)
    await _run_clone(
        url,
        dest,
        policy,
        ["-c", "protocol.file.allow=always"],
        {"GIT_ALLOW_PROTOCOL": "file"},
        shown or str(path)[:300],
        local=True,
        pass_fds=() if source_fd is None else (source_fd,),
        options=options,
    )


async def _run_clone(
    url: str,
    dest: Path,
    policy: ClonePolicy,
    config: list[str],
    extra: Mapping[str, str],
    shown: str,
    *,
    local: bool,
    pass_fds: Sequence[int] = (),
    options: Sequence[str] = (),
) -> None:
    args = ["git", *safe_config(), *config, "clone", "--quiet", "--no-recurse-submodules", *options]
    if local:
        args.append("--no-local")
    args += ["--", url, str(dest)]
    with tempfile.TemporaryDirectory(prefix="codeyard-git-home-") as home:
        process = await asyncio.create_subprocess_exec(
            *args,
            env=clean_env(home, extra),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
        )
        watcher = asyncio.create_task(_watch_size(dest, policy.max_bytes))
        communicate = asyncio.ensure_future(process.communicate())
        try:
            done, _ = await asyncio.wait(
                {communicate, watcher}, timeout=policy.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if communicate not in done:
                _kill(process)
                await process.wait()
                communicate.cancel()
                if watcher in done:
                    raise CloneError(
                        f"could not clone {shown}: it is larger than the limit of {policy.max_bytes} bytes"
                    )
                raise CloneError(f"could not clone {shown}: it took longer than {policy.timeout:g} s")
            out, _ = communicate.result()
        except asyncio.CancelledError:
            _kill(process)
            await process.wait()
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    if process.returncode != 0:
        said = out.decode(errors="replace")[-2000:]
        log.info("clone failed", repo=shown, output=said[-500:])
        raise CloneError(generic_failure(shown), said)
    if await asyncio.to_thread(disk_usage, dest) > policy.max_bytes:  # grew past the limit between two checks
        raise CloneError(f"could not clone {shown}: it is larger than the limit of {policy.max_bytes} bytes")


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 9)


async def _watch_size(dest: Path, limit: int) -> None:
    """Return once ``dest`` holds more than ``limit`` bytes (checked twice a second)."""
    while True:
        await asyncio.sleep(_SIZE_POLL)
        if await asyncio.to_thread(disk_usage, dest) > limit:
            return


def disk_usage(path: Path) -> int:
    """Bytes of the regular files below ``path`` (links not followed)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total
