"""The default client sets TLS up only for https requests (plain http skips loading the trust store), and an https
server whose certificate it cannot verify is refused before any request, and so the key, reaches it."""

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeyard.sdk import APIConnectionError, AsyncClient, Client
from tests.sdk.fake_api import API_KEY, ORG


class SelfSignedServer:
    """Accepts TLS connections with a certificate no trust store knows, and records what reached it."""

    def __init__(self, directory: Path) -> None:
        self.cert, self.key = directory / "cert.pem", directory / "key.pem"
        new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        names = ("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
        files = ("-keyout", str(self.key), "-out", str(self.cert))
        subprocess.run(
            ["openssl", "req", "-x509", *new_key, *files, "-days", "1", *names], check=True, capture_output=True
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.cert, self.key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = b""
        self.handshakes = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        self.handshakes += 1
                        self.received += tls.recv(65536)
                except (OSError, ssl.SSLError):
                    continue

    def close(self) -> None:
        self.listener.close()
        self._thread.join(5)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[SelfSignedServer]:
    server = SelfSignedServer(tmp_path)
    try:
        yield server
    finally:
        server.close()


def test_an_unverifiable_https_server_is_refused(tls_server: SelfSignedServer) -> None:
    with Client(tls_server.url, API_KEY, ORG, max_retries=0) as client, pytest.raises(APIConnectionError):
        client.whoami()
    assert tls_server.handshakes == 0 and API_KEY.encode() not in tls_server.received


async def test_an_unverifiable_https_server_is_refused_by_the_async_client(tls_server: SelfSignedServer) -> None:
    async with AsyncClient(tls_server.url, API_KEY, ORG, max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            await client.whoami()
    assert tls_server.handshakes == 0 and API_KEY.encode() not in tls_server.received
