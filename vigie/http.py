"""The process's one outbound HTTP client, with explicit limits and timeouts.

Every prober that speaks HTTP (SMP, CRL, OCSP, endpoints) shares it through `ProbeEnv`,
so connection limits hold for the whole agent. Redirects are off: a prober that follows
them does so itself, counting and capping them. It never reads proxy settings from the
environment, so a probe measures the target, not a proxy. Its connection pool is made
at the first request: a one-shot command whose check sends none (a certificate file, a
fresh-connection GET) never loads httpcore or the CA bundle.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx

from vigie import USER_AGENT

__all__ = ["outbound_client"]

# Bounds for the whole process; a check's own timeout (enforced by the runner) is shorter.
MAX_CONNECTIONS = 200
MAX_KEEPALIVE = 50
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def outbound_client(*, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    def pool() -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport(
            verify=verify,
            trust_env=False,
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE
            ),
        )

    return httpx.AsyncClient(
        transport=_DeferredTransport(pool),
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


class _DeferredTransport(httpx.AsyncBaseTransport):
    """The transport `make` returns, made when the first request is sent."""

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._inner: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:  # no await before the assignment: made once
            self._inner = self._make()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
