"""Configuration values read from text: durations, host:port addresses, http(s) URLs and
time zone names.

Plain functions over strings, each raising ValueError with a sentence a person can act
on. They are the one definition of these rules: the configuration models (`vocab.config`)
and the command-line arguments (`vigie.cli_args`) both call them. This module must never
import pydantic or any package of vigie, so that a command-line parser can use it cheaply.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["format_duration", "http_url", "parse_duration", "split_host_port", "time_zone"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from `30s`, `5m`, `1h30m`, `250ms`, `2d`, or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as 30s, 5m, 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = _DURATION_PART.findall(text)
        if not text or "".join(number + unit for number, unit in parts) != text:
            raise ValueError(f"invalid duration {value!r}: use forms such as 30s, 5m, 1h30m, 250ms")
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError("a duration is a number of seconds or a string such as 30s, 5m, 1h")
    if not math.isfinite(seconds):  # YAML's .nan and .inf would stall the scheduler
        raise ValueError("a duration must be finite")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact `1h30m`-style form of a whole number of milliseconds."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            out.append(f"{count}{unit}")
    if millis:
        out.append(f"{millis}ms")
    return "".join(out)


# A host name's label (RFC 1123: letters, digits, inner hyphens; underscores as in
# service names).
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        name = host.removesuffix(".")
        return 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(p) for p in name.split("."))
    return True


def split_host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    """('127.0.0.1', 53) from '127.0.0.1', '127.0.0.1:53', '[::1]:53' or 'ns1.example:53'."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":") if rest else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"invalid address {value!r}: the host is empty")
    if not _is_host(host):
        raise ValueError(f"invalid address {value!r}: {host!r} is not an IP address or host name")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid address {value!r}: the port must be 1-65535")
    return host, int(port_text)


def http_url(
    value: str, *, base: bool = False, https: bool = False, credentials: bool = True
) -> str:
    """The URL without surrounding spaces, if it is http(s) with a host, a valid port and
    no control characters (`localhost:8942` is not: its scheme would be `localhost`).

    The variants: `base` for a URL that paths are appended to (an SMP's): no query or
    fragment, returned without its trailing slashes; `https` for a TLS endpoint, whose
    scheme must be https; `credentials=False` for a URL that is shown (a check's, which
    names its metrics and appears in the API and the console): no `user:password@`. The
    errors never quote the URL: it
    may carry a token (a chat webhook's, a password in its user part), and a configuration
    error is located by its key anyway.
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # an IPv6 host without its closing bracket
        raise ValueError("this is not a valid URL: its host cannot be read") from None
    try:
        port = parts.port  # ValueError when it is not a number in 0-65535
    except ValueError:
        port = 0
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            "this is not an http(s) URL with a host: expected an http:// or https:// URL"
        )
    if https and parts.scheme != "https":
        raise ValueError("this is not an https URL: expected https://HOST[:PORT]")
    # Sent as they are, these would split the request line or a header (httpx refuses them).
    if any(not character.isprintable() for character in text) or " " in parts.netloc:
        raise ValueError("this URL holds a control character, or a space in its host")
    if port == 0:
        raise ValueError("this URL has an invalid port: it must be a number 1-65535")
    if not credentials and "@" in parts.netloc:
        raise ValueError(
            "this URL holds credentials (user:password@): a check's URL names its metrics "
            "and is shown in the API and the console, so it may not carry a secret"
        )
    if not base:
        return text
    if parts.query or parts.fragment:
        raise ValueError("this is a base URL, which takes no query or fragment")
    return text.rstrip("/")


def time_zone(name: str) -> str:
    """`name` if it is an IANA time zone this system knows (Europe/Brussels, UTC)."""
    # Imported here: zoneinfo would add ~15 ms to every command's start-up, and only the
    # configuration asks about time zones.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (e.g. Europe/Brussels)") from None
    return name
