"""Running the agent: logging, the application, the server, and a clean exit.

Failures the operator can fix (the port is taken, the store cannot open) end as one log
line and exit code 1, not a traceback.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from vigie.config import VigieConfig

__all__ = ["run_agent", "system_resolver"]

log = structlog.get_logger("vigie")


def system_resolver() -> tuple[str, int] | None:
    """The first name server of the system's resolver configuration, if there is one."""
    import dns.resolver

    try:
        nameservers = dns.resolver.Resolver().nameservers
    except (dns.resolver.NoResolverConfiguration, OSError):
        return None
    return (str(nameservers[0]), 53) if nameservers else None


async def run_agent(
    config: VigieConfig, *, shard: tuple[int, int] = (0, 1), stop: asyncio.Event | None = None
) -> int:
    # Imported here, not above: `vigie probe` uses system_resolver without the agent.
    from probes import ProbeEnv
    from ticket_sink import StoreError
    from vigie.app import create_app
    from vigie.logs import configure_logging
    from vigie.serve import serve

    configure_logging(
        config.log.level, config.log.format, loggers=config.log.loggers, cache_loggers=True
    )
    try:
        # Inside the try: the store rejects an unsupported URL as soon as it is created.
        app = create_app(config, shard=shard, env=ProbeEnv(resolver=system_resolver()))
        await serve(
            app,
            config.server.listen,
            stop=stop,
            max_connections=config.server.max_connections,
            idle_timeout=config.server.idle_timeout,
        )
    except OSError as exc:
        log.error("cannot_listen", listen=config.server.listen, error=exc.strerror or str(exc))
        return 1
    except StoreError as exc:
        log.error("store_unavailable", error=str(exc))
        return 1
    return 0
