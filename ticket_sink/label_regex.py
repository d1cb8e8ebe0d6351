"""Label regular expressions with RE2 semantics, matched in time linear in the value.

Matchers of ticket queries, silences, known errors and notification routes come from
clients and configuration files. Python's `re` backtracks: `(.*.*)*#` against a label
value takes exponential time, on the event loop, and freezes the whole agent. RE2 (the
semantics Prometheus and Alertmanager use through Go's `regexp`) runs in linear time and
refuses what it cannot run that way (backreferences, lookaround), and a pattern whose
compiled program would exceed a small memory budget. Matching is anchored at both ends,
as in Alertmanager. This module must never fall back to `re`.
"""

from __future__ import annotations

import re2

__all__ = ["LabelRegex"]

# Bounds the compiled program, and with it the time to compile one pattern (about 20 ms
# for the largest refused; `\pL{1000}` is refused, `[^a]{1000}` is not).
_MAX_PROGRAM_BYTES = 1 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would write each refused pattern to stderr
    options.max_mem = _MAX_PROGRAM_BYTES
    return options


_OPTIONS = _options()


def _utf8(text: str) -> bytes:
    # A lone surrogate (what a query string's invalid UTF-8 escape decodes to) is encoded
    # as it is rather than raising: RE2 reads it as one character, as `.` matches it.
    return text.encode("utf-8", "surrogatepass")


class LabelRegex:
    """A compiled pattern (ValueError saying why RE2 refuses it); `fullmatch` tells
    whether it matches the whole value."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            # Bytes in, bytes matched: the binding's str path re-encodes every value and
            # maps offsets back, twice the cost of a match.
            self._compiled = re2.compile(_utf8(pattern), _OPTIONS)
        except re2.error as exc:
            message = exc.args[0] if exc.args else exc
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            raise ValueError(f"not a valid RE2 regular expression: {message}") from None

    def fullmatch(self, value: str) -> bool:
        return self._compiled.fullmatch(_utf8(value)) is not None
