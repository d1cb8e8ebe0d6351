"""The vocabulary every package of vigie shares: configuration types (`StrictModel`,
durations, instants, addresses, http(s) URLs, secrets) and the one exception tree
(`vocab.errors`).

vocab imports none of vigie's other packages, and every package may import it. Its names
load on first use: `vocab.text` and `vocab.errors` are plain Python, while `vocab.config`
and `vocab.secret` import pydantic, which a command's `--help` must not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from vocab.config import READ_FILES as READ_FILES
    from vocab.config import BaseHttpUrl as BaseHttpUrl
    from vocab.config import Duration as Duration
    from vocab.config import HostPort as HostPort
    from vocab.config import HttpUrl as HttpUrl
    from vocab.config import Instant as Instant
    from vocab.config import PositiveDuration as PositiveDuration
    from vocab.config import StrictModel as StrictModel
    from vocab.secret import Secret as Secret
    from vocab.secret import SecretHttpUrl as SecretHttpUrl
    from vocab.secret import resolve_secret as resolve_secret
    from vocab.text import format_duration as format_duration
    from vocab.text import http_url as http_url
    from vocab.text import parse_duration as parse_duration
    from vocab.text import split_host_port as split_host_port
else:
    # Hidden from type checkers, which read the imports above instead.
    __getattr__, __dir__, __all__ = lazy_loader.attach(
        __name__,
        submod_attrs={
            "config": [
                "READ_FILES",
                "BaseHttpUrl",
                "Duration",
                "HostPort",
                "HttpUrl",
                "Instant",
                "PositiveDuration",
                "StrictModel",
            ],
            "secret": ["Secret", "SecretHttpUrl", "resolve_secret"],
            "text": ["format_duration", "http_url", "parse_duration", "split_host_port"],
        },
    )
