"""Configuration types shared by the probers' target models (pydantic v2, strict).

Each prober module declares the model of its own targets on top of `TargetBase`; the
application's configuration composes them. Unknown keys are rejected everywhere.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from probes._base import CheckDefaults

__all__ = [
    "READ_FILES",
    "Duration",
    "HostPort",
    "Instant",
    "PositiveDuration",
    "StrictModel",
    "TargetBase",
    "format_duration",
    "http_url",
    "parse_duration",
    "split_host_port",
]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An instant such as 2027-03-01 or 2027-03-01T12:00:00+01:00; without a zone, UTC.
Instant = Annotated[datetime, AfterValidator(_utc)]

# Validation context key: true to read every file a configuration names in full (`vigie
# config check`), not only to check that it is a readable regular file under its cap.
READ_FILES = "read_files"

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


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "duration: 30s, 5m, 1h30m, 250ms, or seconds as a number",
        }
    ),
]


def _longer_than_zero(seconds: float) -> float:
    # An interval of 0 would make the scheduler spin; a timeout of 0 fails every run.
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


PositiveDuration = Annotated[Duration, AfterValidator(_longer_than_zero)]


def _parse_host_port(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected host:port, for example 127.0.0.1:53 or [::1]:5353")
    split_host_port(value)
    return value


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


def http_url(value: str) -> str:
    """The URL without surrounding spaces, if it is http(s) with a host (`localhost:8942`
    is not: its scheme would be `localhost`)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    return value.strip()


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


HostPort = Annotated[str, BeforeValidator(_parse_host_port)]


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetBase(StrictModel):
    """Settings every target has; unset ones fall back to the configuration's defaults."""

    interval: PositiveDuration | None = Field(
        None, description="time between two runs of each check; unset: defaults.interval"
    )
    timeout: PositiveDuration | None = Field(
        None, description="time limit of one run; unset: defaults.timeout"
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=5,
        description="extra attempts before a failure is reported; unset: defaults.retries",
    )

    def timing(self, defaults: CheckDefaults) -> CheckDefaults:
        """This target's interval, timeout and retries, falling back to `defaults`."""
        return CheckDefaults(
            interval=defaults.interval if self.interval is None else self.interval,
            timeout=defaults.timeout if self.timeout is None else self.timeout,
            retries=defaults.retries if self.retries is None else self.retries,
        )
