"""A TCP proxy on loopback that drops its first connections part-way: a real network failure for stream clients.

    with DroppingProxy("127.0.0.1", 8000, drop_after=[2000]) as proxy:
        ... connect to proxy.url; the first connection is cut after 2000 bytes from the server ...

It records what each connection sent upstream (the request head), so a test can check the resumed request.
"""

import socket
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from tests.fakes.threaded import listening_socket


class DroppingProxy:
    def __init__(self, host: str, port: int, *, drop_after: Sequence[int]) -> None:
        self.upstream = (host, port)
        self.drop_after = list(drop_after)
        """For the first connections in turn: bytes from the server after which both sides are closed."""
        self.requests: list[bytes] = []
        self.responses: list[bytes] = []
        """What each connection received from the server (up to its drop)."""
        self._sock = listening_socket()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="dropping-proxy", daemon=True)
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                limit = self.drop_after.pop(0) if self.drop_after else None
                index = len(self.requests)
                self.requests.append(b"")
                self.responses.append(b"")
            threading.Thread(target=self._serve, args=(client, limit, index), daemon=True).start()

    def _serve(self, client: socket.socket, limit: int | None, index: int) -> None:
        upstream = socket.create_connection(self.upstream)

        def upward() -> None:
            try:
                while data := client.recv(65536):
                    with self._lock:
                        self.requests[index] += data
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                _close(upstream)

        threading.Thread(target=upward, daemon=True).start()
        passed = 0
        try:
            while data := upstream.recv(65536):
                if limit is not None and passed + len(data) >= limit:
                    data = data[: max(0, limit - passed)]
                with self._lock:
                    self.responses[index] += data
                client.sendall(data)
                passed += len(data)
                if limit is not None and passed >= limit:
                    break
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
