"""Who is signed in to the console: signed session cookies, sign-in by token or by a
trusted proxy's header, and the CSRF token each session carries.

The cookie holds the person's name, role, how they signed in and a random CSRF token,
signed and timestamped (itsdangerous) with the console's key; it is HttpOnly,
SameSite=Strict and expires. A token session is believed only while a configured token
still has that name and role. This module must never put a token in a cookie, a URL or a
log, and never believe the proxy header from an address outside the allow-list.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from ticket_sink.api.auth import AccessPolicy, Role
from ticket_sink.console.settings import ConsoleSettings, ProxyAuth

__all__ = ["COOKIE", "FLASH_COOKIE", "Session", "Sessions"]

COOKIE = "vigie_session"
FLASH_COOKIE = "vigie_flash"
COOKIE_PATH = "/console"
MAX_COOKIE_CHARS = 4096
FLASH_SECONDS = 120
# What a proxy may call a person: a token name's characters, and e-mail addresses.
_PROXY_NAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,100}$")
_CONSOLE_ROLES = frozenset({Role.VIEWER, Role.RESPONDER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Session:
    name: str  # the audit trail's actor for every change made in this session
    role: Role
    csrf: str
    via: str  # "token" or "proxy"

    @property
    def responder(self) -> bool:
        return self.role in (Role.RESPONDER, Role.ADMIN)

    @property
    def admin(self) -> bool:
        return self.role is Role.ADMIN


def _signer_with(clock: Callable[[], float]) -> type[TimestampSigner]:
    """A timestamp signer that reads `clock` (itsdangerous reads `time.time`)."""

    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return Signer


def _token_roles(policy: AccessPolicy) -> dict[str, Role]:
    return {token.name: token.role for token in policy.tokens}


class Sessions:
    def __init__(self, settings: ConsoleSettings) -> None:
        self._settings = settings
        self._policy = settings.api.access
        self._roles = _token_roles(self._policy)
        signer = _signer_with(settings.clock)
        self._signer = URLSafeTimedSerializer(
            settings.session_key, salt="vigie-console-session", signer=signer
        )
        self._flash = URLSafeTimedSerializer(
            settings.session_key, salt="vigie-console-flash", signer=signer
        )

    # -- signing in --

    def sign_in(self, token: str) -> Session | None:
        """A new session for the holder of `token`, or None (unknown token, or one whose
        role cannot use the console: ingest)."""
        principal = self._policy.identify(token)
        if principal is None or principal.role not in _CONSOLE_ROLES:
            return None
        return Session(principal.name, principal.role, secrets.token_urlsafe(32), "token")

    def from_proxy(self, request: web.Request) -> str | None:
        """The name the trusted proxy vouches for, or None (no proxy configured, a peer
        outside the allow-list, no header, or a name no person has)."""
        proxy = self._settings.proxy
        if proxy is None or not _trusted(request, proxy):
            return None
        name = request.headers.get(proxy.header, "").strip()
        return name if _PROXY_NAME.fullmatch(name) else None

    def _proxy_role(self, name: str, proxy: ProxyAuth) -> Role:
        role = self._roles.get(name, proxy.default_role)
        return role if role in _CONSOLE_ROLES else Role.VIEWER

    # -- reading a request --

    def current(self, request: web.Request) -> tuple[Session | None, bool]:
        """The request's session, and whether it is new (its cookie must be set)."""
        proxied = self.from_proxy(request)
        found = self._read_cookie(request)
        if proxied is not None:
            assert self._settings.proxy is not None
            role = self._proxy_role(proxied, self._settings.proxy)
            if found is not None and found.via == "proxy" and found.name == proxied:
                return Session(proxied, role, found.csrf, "proxy"), False
            return Session(proxied, role, secrets.token_urlsafe(32), "proxy"), True
        if found is None or found.via != "token":
            return None, False  # a proxy session is good only through the proxy
        if self._roles.get(found.name) is not found.role:
            return None, False  # the token was removed or its role changed
        return found, False

    def _read_cookie(self, request: web.Request) -> Session | None:
        value = request.cookies.get(COOKIE, "")
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        try:
            data: Any = self._signer.loads(value, max_age=int(self._settings.session_seconds))
        except BadData:
            return None
        if not isinstance(data, dict):
            return None
        name, role, csrf, via = (data.get(key) for key in ("n", "r", "c", "v"))
        if not (
            isinstance(name, str)
            and isinstance(role, str)
            and isinstance(csrf, str)
            and isinstance(via, str)
        ):
            return None
        try:
            return Session(name, Role(role), csrf, via)
        except ValueError:
            return None

    @staticmethod
    def csrf_ok(session: Session, presented: object) -> bool:
        return isinstance(presented, str) and hmac.compare_digest(
            presented.encode(), session.csrf.encode()
        )

    # -- cookies --

    def set_cookie(self, response: web.StreamResponse, session: Session) -> None:
        value = self._signer.dumps(
            {"n": session.name, "r": session.role.value, "c": session.csrf, "v": session.via}
        )
        self._cookie(response, COOKIE, value, int(self._settings.session_seconds))

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path=COOKIE_PATH)

    def set_flash(self, response: web.StreamResponse, message: str, *, error: bool) -> None:
        value = self._flash.dumps({"m": message[:500], "e": error})
        self._cookie(response, FLASH_COOKIE, value, FLASH_SECONDS)

    def take_flash(
        self, request: web.Request, response: web.StreamResponse | None = None
    ) -> tuple[str, bool] | None:
        """The message left by the previous response (cleared on `response`)."""
        value = request.cookies.get(FLASH_COOKIE, "")
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        if response is not None:
            response.del_cookie(FLASH_COOKIE, path=COOKIE_PATH)
        try:
            data: Any = self._flash.loads(value, max_age=FLASH_SECONDS)
        except BadData:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("m"), str):
            return None
        return data["m"], bool(data.get("e"))

    def _cookie(self, response: web.StreamResponse, name: str, value: str, seconds: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=seconds,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=self._settings.secure_cookie,
        )


def _trusted(request: web.Request, proxy: ProxyAuth) -> bool:
    peer = request.remote
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in proxy.trusted)
