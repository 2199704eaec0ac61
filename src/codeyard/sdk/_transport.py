"""The default transports: TLS set up only when a request needs it.

Building the verifying SSL context (loading the trust store) takes longer than a small API call; a program talking
to a server on plain http, such as a CLI command against ``http://127.0.0.1:8000``, never needs it. So plain http
requests go through a transport without TLS, and the verifying one (httpx2's defaults) is built at the first https
request. https requests always go through the verifying transport.
"""

import httpx2


def _tls(request: httpx2.Request) -> bool:
    return request.url.scheme != "http"


class LazyTLSTransport(httpx2.BaseTransport):
    def __init__(self) -> None:
        self._plain: httpx2.HTTPTransport | None = None
        self._verified: httpx2.HTTPTransport | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if _tls(request):
            self._verified = self._verified or httpx2.HTTPTransport()
            return self._verified.handle_request(request)
        self._plain = self._plain or httpx2.HTTPTransport(verify=False)  # never reached by an https request
        return self._plain.handle_request(request)

    def close(self) -> None:
        for transport in (self._plain, self._verified):
            if transport is not None:
                transport.close()


class AsyncLazyTLSTransport(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self._plain: httpx2.AsyncHTTPTransport | None = None
        self._verified: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if _tls(request):
            self._verified = self._verified or httpx2.AsyncHTTPTransport()
            return await self._verified.handle_async_request(request)
        self._plain = self._plain or httpx2.AsyncHTTPTransport(verify=False)  # never reached by an https request
        return await self._plain.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._plain, self._verified):
            if transport is not None:
                await transport.aclose()
