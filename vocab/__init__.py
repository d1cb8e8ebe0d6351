"""The vocabulary every package of vigie shares: configuration types (`StrictModel`,
durations, instants, addresses, http(s) URLs, time zones, secrets), the bounded reading of
the files a configuration names (`vocab.files`) and the one exception tree (`vocab.errors`).

vocab imports none of vigie's other packages, and every package may import it. Its names
load on first use: `vocab.text`, `vocab.files` and `vocab.errors` are plain Python, while
`vocab.config` and `vocab.secret` import pydantic, which a command's `--help` must not pay
for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vocab.config import READ_FILES as READ_FILES
    from vocab.config import BaseHttpUrl as BaseHttpUrl
    from vocab.config import CheckUrl as CheckUrl
    from vocab.config import Duration as Duration
    from vocab.config import HostPort as HostPort
    from vocab.config import HttpsUrl as HttpsUrl
    from vocab.config import HttpUrl as HttpUrl
    from vocab.config import Instant as Instant
    from vocab.config import PositiveDuration as PositiveDuration
    from vocab.config import StrictModel as StrictModel
    from vocab.config import TimeZoneName as TimeZoneName
    from vocab.errors import ClientFacingError as ClientFacingError
    from vocab.errors import ConfigurationError as ConfigurationError
    from vocab.errors import InputError as InputError
    from vocab.errors import TargetError as TargetError
    from vocab.errors import UnavailableError as UnavailableError
    from vocab.errors import VigieError as VigieError
    from vocab.files import FileRefused as FileRefused
    from vocab.files import open_regular_file as open_regular_file
    from vocab.files import read_regular_file as read_regular_file
    from vocab.secret import Secret as Secret
    from vocab.secret import SecretHttpUrl as SecretHttpUrl
    from vocab.secret import resolve_secret as resolve_secret
    from vocab.text import format_duration as format_duration
    from vocab.text import http_url as http_url
    from vocab.text import parse_duration as parse_duration
    from vocab.text import split_host_port as split_host_port
    from vocab.text import time_zone as time_zone

# Each name, and the submodule that defines it (imported on first use of one of its names).
_MODULE_OF = {
    "READ_FILES": "vocab.config",
    "BaseHttpUrl": "vocab.config",
    "CheckUrl": "vocab.config",
    "Duration": "vocab.config",
    "HostPort": "vocab.config",
    "HttpUrl": "vocab.config",
    "HttpsUrl": "vocab.config",
    "Instant": "vocab.config",
    "PositiveDuration": "vocab.config",
    "StrictModel": "vocab.config",
    "TimeZoneName": "vocab.config",
    "ClientFacingError": "vocab.errors",
    "ConfigurationError": "vocab.errors",
    "InputError": "vocab.errors",
    "TargetError": "vocab.errors",
    "UnavailableError": "vocab.errors",
    "VigieError": "vocab.errors",
    "FileRefused": "vocab.files",
    "open_regular_file": "vocab.files",
    "read_regular_file": "vocab.files",
    "Secret": "vocab.secret",
    "SecretHttpUrl": "vocab.secret",
    "resolve_secret": "vocab.secret",
    "format_duration": "vocab.text",
    "http_url": "vocab.text",
    "parse_duration": "vocab.text",
    "split_host_port": "vocab.text",
    "time_zone": "vocab.text",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    try:
        module = _MODULE_OF[name]
    except KeyError:
        raise AttributeError(f"module 'vocab' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
