"""Who is calling the API and what they may do: bearer tokens, roles and their hashes.

Tokens are configured as hashes (`sha256:<hex>`), never as the tokens themselves, and a
presented token is compared with every configured hash in constant time. This module must
never log, store or echo a presented token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ANONYMOUS",
    "AccessPolicy",
    "ApiToken",
    "Principal",
    "Role",
    "hash_token",
    "is_token_hash",
]

HASH_PREFIX = "sha256:"
_HASH_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")


class Role(StrEnum):
    """What a token may do. viewer < responder < admin; ingest only posts alerts."""

    VIEWER = "viewer"  # read tickets, known errors, reports, probes, events
    RESPONDER = "responder"  # and report tickets, transition, comment, link
    ADMIN = "admin"  # and manage known errors (and post alerts)
    INGEST = "ingest"  # post alerts, nothing else


# Which roles satisfy an operation that requires the key role.
_GRANTED_BY: dict[Role, frozenset[Role]] = {
    Role.VIEWER: frozenset({Role.VIEWER, Role.RESPONDER, Role.ADMIN}),
    Role.RESPONDER: frozenset({Role.RESPONDER, Role.ADMIN}),
    Role.ADMIN: frozenset({Role.ADMIN}),
    Role.INGEST: frozenset({Role.INGEST, Role.ADMIN}),
}


def hash_token(token: str) -> str:
    """The configuration spelling of `token`'s hash: `sha256:` and 64 hex digits.

    A plain SHA-256 is enough: tokens are long random strings, not passwords people pick.
    """
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_token_hash(text: str) -> bool:
    return _HASH_PATTERN.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str  # the audit trail's actor for every write made with this token
    role: Role
    hash: str  # sha256:<hex>

    def __post_init__(self) -> None:
        if not is_token_hash(self.hash):
            raise ValueError(f"token {self.name}: hash must be sha256: and 64 hex digits")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a configured token's name and role, or the anonymous reader."""

    name: str
    role: Role | None  # None: anonymous, allowed to read only if the policy says so

    def may(self, needed: Role, *, anonymous_read: bool) -> bool:
        if self.role is None:
            return anonymous_read and needed is Role.VIEWER
        return self.role in _GRANTED_BY[needed]


ANONYMOUS = Principal("anonymous", None)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    tokens: Sequence[ApiToken] = ()
    anonymous_read: bool = False
    # Each token's SHA-256 digest with its principal, made once: what `identify` compares.
    _digests: tuple[tuple[bytes, Principal], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [token.name for token in self.tokens]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"token names must be unique: {', '.join(duplicates)}")
        digests = tuple(
            (bytes.fromhex(entry.hash.removeprefix(HASH_PREFIX)), Principal(entry.name, entry.role))
            for entry in self.tokens
        )
        object.__setattr__(self, "_digests", digests)

    def identify(self, token: str) -> Principal | None:
        """The principal whose hash matches `token`, or None.

        Every configured hash is compared, whether or not an earlier one matched, so the
        time taken says nothing about which token (or how much of one) was right.
        """
        # HTTP headers are bytes: aiohttp hands what is not UTF-8 over as lone surrogates,
        # which plain UTF-8 cannot encode; encoded as they are, they match no token.
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: Principal | None = None
        for digest, principal in self._digests:
            if hmac.compare_digest(presented, digest):
                found = principal
        return found
