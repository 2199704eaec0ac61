"""An ASGI app served by uvicorn in a daemon thread, on a socket bound up front so its port is known at once.

Shared by the test suite's fake servers (the scripted model, the fake Devin API of the SDK tests).
"""

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT_SECONDS = 10.0


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound, listening TCP socket.

    The protocol is named explicitly: asyncio sets TCP_NODELAY only on sockets whose ``proto`` is TCP, and
    without it every keep-alive response waits out the client's 40 ms delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def server_config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", http="h11", ws="none", timeout_graceful_shutdown=1
    )


class ThreadedServer:
    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, name: str = "fake-server") -> None:
        self.app = app
        self.host = host
        self.name = name
        self.socket = listening_socket(host, port)
        self.port: int = self.socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._server = uvicorn.Server(server_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.socket]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=START_TIMEOUT_SECONDS)
        self.socket.close()

    def serve_forever(self) -> None:
        """Run in the calling thread until SIGINT/SIGTERM (for command-line use)."""
        uvicorn.Server(server_config(self.app)).run(sockets=[self.socket])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
