"""SML participant names in both naming schemes (pure functions, no I/O).

Classic:  "B-" + hex(md5(lower(value)))  + "." + scheme + "." + zone   (CNAME)
BDXL:     base32_nopad(sha256(lower(value))) + "." + scheme + "." + zone  (NAPTR)

An identifier without a scheme (an ebCore URN, for example) is hashed whole and gets no
scheme label. Identifiers are read as the Peppol Policy for use of Identifiers writes them:
no surrounding whitespace around scheme or value, schemes case-insensitive, and
`iso6523-actorid-upis` values (`ICD:IDENTIFIER`) case-insensitive, so they are kept in
lower case; an identifier no registration could have produced is refused with a message,
never hashed as typed. An identifier copied from an SMP URL (`SCHEME%3A%3AVALUE`, the
whole identifier percent-encoded as one path segment) is decoded once: the DNS name is
built from the identifier, never from its URL form. This module must never guess a
scheme from the value's shape.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

__all__ = [
    "PEPPOL_PARTICIPANT_SCHEME",
    "NamingScheme",
    "ParticipantId",
    "bdxl_label",
    "classic_label",
    "participant_name",
]

_SEPARATOR = "::"
# Peppol Policy for use of Identifiers: the scheme whose values are case-insensitive, and
# the form of its values (a four-digit ICD, a colon, an identifier without whitespace).
PEPPOL_PARTICIPANT_SCHEME = "iso6523-actorid-upis"
_ISO6523_VALUE = re.compile(r"[0-9]{4}:[^\s]+")
# POLICY 1 of the Policy (4.4.0, since 2025-11-01): a participant value (the scheme not
# counted) is at most 130 characters; it was 50 before.
_MAX_PEPPOL_VALUE = 130
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_LABEL = 63  # RFC 1035: a DNS label's length


class NamingScheme(StrEnum):
    """How a zone publishes participants."""

    CNAME = "cname"  # classic B-<md5> names, CNAME to {smp}.publisher.{zone}
    NAPTR = "naptr"  # BDXL base32(sha256) names with U-NAPTR Meta:SMP records


@dataclass(frozen=True, slots=True)
class ParticipantId:
    """A participant identifier, `SCHEME::VALUE`, or a bare value without scheme."""

    scheme: str | None
    value: str

    @classmethod
    def parse(cls, text: str) -> ParticipantId:
        """The identifier in its one form, or ValueError saying what is wrong with it."""
        text = text.strip()
        if not text:
            raise ValueError("participant identifier is empty")
        if _CONTROL.search(text):
            raise ValueError(f"participant identifier {text!r} contains a control character")
        text = _url_form_decoded(text)
        scheme, sep, value = text.partition(_SEPARATOR)
        if not sep:
            return cls(None, text)
        scheme, value = scheme.strip(), value.strip()
        if not scheme or not value:
            raise ValueError(f"participant identifier {text!r} needs SCHEME::VALUE")
        if any(character.isspace() for character in scheme):
            raise ValueError(f"participant identifier scheme {scheme!r} contains whitespace")
        if not scheme.isascii() or "." in scheme or len(scheme) > _MAX_LABEL:
            # The scheme is a label of the name asked; a sender could not ask this one.
            raise ValueError(
                f"participant identifier scheme {scheme!r} cannot be a DNS label "
                f"(ASCII without '.', at most {_MAX_LABEL} characters)"
            )
        if scheme.lower() == PEPPOL_PARTICIPANT_SCHEME:
            if not _ISO6523_VALUE.fullmatch(value):
                raise ValueError(
                    f"{PEPPOL_PARTICIPANT_SCHEME} value {value!r} is not ICD:IDENTIFIER "
                    "(four digits, a colon, an identifier without spaces)"
                )
            if len(value) > _MAX_PEPPOL_VALUE:
                raise ValueError(
                    f"{PEPPOL_PARTICIPANT_SCHEME} value of {len(value)} characters is longer "
                    f"than the {_MAX_PEPPOL_VALUE} the Peppol Policy for use of Identifiers allows"
                )
            return cls(PEPPOL_PARTICIPANT_SCHEME, value.lower())
        return cls(scheme, value)

    def __str__(self) -> str:
        return self.value if self.scheme is None else f"{self.scheme}{_SEPARATOR}{self.value}"


def _url_form_decoded(text: str) -> str:
    """`text` percent-decoded when it is a whole SCHEME::VALUE in its SMP URL form.

    Only then: a bare value (an ebCore URN) may hold a `%` of its own.
    """
    if _SEPARATOR in text or "%" not in text:
        return text
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        return text
    if _SEPARATOR not in decoded:
        return text
    if _CONTROL.search(decoded):
        raise ValueError(f"participant identifier {text!r} contains a control character")
    return decoded.strip()


def classic_label(value: str) -> str:
    """First label of the classic name: `B-` and the hex MD5 of the lower-cased value."""
    return "B-" + hashlib.md5(value.lower().encode(), usedforsecurity=False).hexdigest()


def bdxl_label(value: str) -> str:
    """First label of the BDXL name: unpadded base32 of the SHA-256 of the lower-cased value.

    Returned in lower case; DNS names compare case-insensitively, so publishers writing
    upper case match too.
    """
    digest = hashlib.sha256(value.lower().encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower()


def participant_name(participant: ParticipantId, zone: str, scheme: NamingScheme) -> str:
    """Fully qualified name (no trailing dot) under which `zone` publishes `participant`."""
    label = classic_label if scheme is NamingScheme.CNAME else bdxl_label
    parts = [label(participant.value)]
    if participant.scheme is not None:
        parts.append(participant.scheme)
    parts.append(zone.rstrip("."))
    return ".".join(parts)
