"""The process's one outbound HTTP client, with explicit limits and timeouts.

Every prober that speaks HTTP (SMP, CRL, OCSP, endpoints) shares it through `ProbeEnv`,
so connection limits hold for the whole agent. Redirects are off: a prober that follows
them does so itself, counting and capping them. It never reads proxy settings from the
environment, so a probe measures the target, not a proxy.
"""

from __future__ import annotations

import ssl

import httpx

from vigie import __version__

__all__ = ["USER_AGENT", "outbound_client"]

USER_AGENT = f"vigie/{__version__} (+eDelivery monitoring)"

# Bounds for the whole process; a check's own timeout (enforced by the runner) is shorter.
MAX_CONNECTIONS = 200
MAX_KEEPALIVE = 50
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def outbound_client(*, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE
        ),
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=False,
        trust_env=False,
        verify=verify,
        headers={"User-Agent": USER_AGENT},
    )
