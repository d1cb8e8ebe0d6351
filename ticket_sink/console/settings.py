"""What the console needs from the application that serves it, gathered in one value.

`ticket_sink` may import neither `probes` nor the application: the checks page reads the
latest results through a plain callable the application passes in. This module must never
import the application and never hold a secret anywhere but in `session_key`.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from ticket_sink.api.auth import Role
from ticket_sink.api.settings import ApiSettings

__all__ = ["CONSOLE_SETTINGS", "CheckRow", "ConsoleSettings", "ProxyAuth"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One check's latest result, as the checks page shows it."""

    kind: str
    service: str
    target: str
    success: bool | None  # None: not run yet
    reason: str
    detail: str
    finished_at: float | None  # Unix time
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProxyAuth:
    """Sign-in by an authenticating reverse proxy: the user's name in `header`, believed
    only from the `trusted` addresses (the proxy's), as Grafana's auth proxy does."""

    header: str
    trusted: Sequence[Network]
    # A name that is also an API token's gets that token's role; any other name this one.
    default_role: Role = Role.VIEWER


@dataclass(frozen=True)
class ConsoleSettings:
    api: ApiSettings  # the store, the SLA policy and the tokens, shared with the API
    session_key: bytes  # signs the session cookie; random per process unless configured
    session_seconds: float = 12 * 3600
    proxy: ProxyAuth | None = None
    checks: Callable[[], Sequence[CheckRow]] | None = None
    secure_cookie: bool = False  # the cookie's Secure flag: set behind HTTPS
    page_size: int = 50
    clock: Callable[[], float] = time.time  # Unix time: signs and ages the session cookies


CONSOLE_SETTINGS = web.AppKey("console_settings", ConsoleSettings)
