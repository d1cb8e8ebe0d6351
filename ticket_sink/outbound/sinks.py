"""Building the configured sinks and the one HTTP client they share.

Building a sink opens nothing; the client is opened here and closed by its owner (the
application's cleanup context).
"""

from __future__ import annotations

import httpx

from ticket_sink.outbound._base import Sink
from ticket_sink.outbound.config import NotificationsConfig

__all__ = ["build_sinks", "notification_client"]

# Bounds for all notifications of one agent; each sink sets its own per-request timeout.
MAX_CONNECTIONS = 20
MAX_KEEPALIVE = 10
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def notification_client(*, proxy: str | None = None) -> httpx.AsyncClient:
    """The worker's one HTTP client. Redirects are not followed (a webhook that moved is a
    configuration to fix, and following would re-send the body elsewhere); proxy settings
    come from the configuration, not from the environment."""
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE
        ),
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=False,
        trust_env=False,
        proxy=proxy,
        headers={"User-Agent": "vigie-notifications"},
    )


def build_sinks(config: NotificationsConfig, client: httpx.AsyncClient) -> dict[str, Sink]:
    return {sink.name: sink.build(client) for sink in config.sinks.all()}
