"""The `console` section of the configuration: the on-call console's sessions and its
optional sign-in through an authenticating reverse proxy.

It must never accept a proxy header without an allow-list of the proxy's addresses: the
header is believed only from those.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Literal

from pydantic import Field, field_validator

from ticket_sink.api import Role
from ticket_sink.console import ProxyAuth
from vocab import PositiveDuration, Secret, StrictModel

__all__ = ["ConsoleConfig", "ProxyConfig"]


class ProxyConfig(StrictModel):
    header: str = Field(
        pattern=r"^[A-Za-z0-9-]{1,100}$",
        description="the request header in which the proxy names the signed-in person "
        "(X-WEBAUTH-USER, as Grafana's auth proxy)",
    )
    trusted: list[str] = Field(
        min_length=1,
        description="addresses or networks of the proxy (127.0.0.1, 10.0.0.0/24): the "
        "header is ignored from any other peer",
    )
    default_role: Literal["viewer", "responder", "admin"] = Field(
        "viewer",
        description="the role of a person the proxy names; a name that is also an API "
        "token's gets that token's role",
    )

    @field_validator("trusted")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an address or a network") from None
        return values

    def auth(self) -> ProxyAuth:
        return ProxyAuth(
            header=self.header,
            trusted=[ipaddress.ip_network(value, strict=False) for value in self.trusted],
            default_role=Role(self.default_role),
        )


class ConsoleConfig(StrictModel):
    enabled: bool = Field(True, description="serve the on-call console under /console/")
    session_secret: Secret | None = Field(
        None,
        description="signs session cookies (32 characters or more); default: random at "
        "start, so sessions end when the agent restarts. Agents behind one address share one",
    )
    session_lifetime: PositiveDuration = Field(
        12 * 3600, description="how long a sign-in lasts", le=30 * 86400
    )
    secure_cookie: bool = Field(
        False, description="mark the session cookie Secure: set it when served over HTTPS"
    )
    proxy: ProxyConfig | None = Field(
        None, description="sign-in through an authenticating reverse proxy's header"
    )

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: object) -> object:
        secret = getattr(value, "get_secret_value", None)
        if secret is not None and len(secret()) < 32:
            raise ValueError("a session secret needs 32 characters or more")
        return value

    def session_key(self) -> bytes:
        if self.session_secret is None:
            return secrets.token_bytes(32)
        return self.session_secret.get_secret_value().encode("utf-8")
