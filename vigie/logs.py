"""Logging: one structlog processor chain, configured once at start-up.

Console output on a terminal, JSON lines otherwise; context bound with contextvars. The
standard library's loggers (aiohttp, asyncio, httpx) are routed through the same renderer
so the output is one format. Third-party loggers write warnings and worse unless the
configuration asks for more: their INFO lines (httpx's one line per request) would drown
the agent's own events and carry full URLs, which may be secrets (chat webhooks). A
message repeated in a burst (accept() failing with EMFILE under a connection flood) is
written a few times a window, then counted. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Literal, TextIO

import structlog

__all__ = ["OWN_LOGGERS", "RepeatLimiter", "configure_logging"]

# The agent's own loggers: they follow `log.level`; every other logger writes warnings and
# worse unless `log.loggers` names it.
OWN_LOGGERS = ("vigie", "probes", "correlator", "ticket_sink")
THIRD_PARTY_LEVEL = logging.WARNING

LevelName = Literal["debug", "info", "warning", "error"]


class RepeatLimiter(logging.Filter):
    """Lets through at most `burst` warnings or errors of one (logger, message template)
    per window; the first one after a suppressed stretch says how many were dropped.
    Lower levels pass untouched: they are one event per unit of work, each its own."""

    def __init__(
        self,
        burst: int = 10,
        window_seconds: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._burst = burst
        self._window = window_seconds
        self._clock = clock
        # (logger, template) -> [window start, records let through, records dropped]
        self._seen: dict[tuple[str, object], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        # structlog's events carry the event dict as `msg`; key them by their event name.
        template = record.msg.get("event") if isinstance(record.msg, dict) else record.msg
        key = (record.name, str(template))
        now = self._clock()
        state = self._seen.get(key)
        if state is None or now - state[0] >= self._window:
            dropped = 0 if state is None else int(state[2])
            if len(self._seen) > 10_000:  # templates are few; never let the table grow
                self._seen.clear()
            self._seen[key] = [now, 1, 0]
            if dropped:
                _note_dropped(record, dropped)
            return True
        if state[1] < self._burst:
            state[1] += 1
            return True
        state[2] += 1
        return False


def _note_dropped(record: logging.LogRecord, dropped: int) -> None:
    if isinstance(record.msg, dict):
        record.msg["repeats_dropped"] = dropped
    else:
        record.msg = f"{record.msg} ({dropped} similar lines dropped)"


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
    *,
    loggers: Mapping[str, str] | None = None,
    cache_loggers: bool = False,
) -> None:
    """`level` is the agent's own loggers' level; `loggers` sets any logger's level by
    name (`httpx: info`), overriding both `level` and the third-party default.
    `cache_loggers` is for the long-running agent (`vigie run`, the demo), where a
    logger bound once saves a lookup per event; a one-shot command leaves it off, so
    that calling it in a process that goes on (a test) leaves no module's logger bound
    to this chain, out of reach of `structlog.testing.capture_logs`."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            # Dropping filtered events first keeps per-check debug calls nearly free.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    own_level = logging.getLevelName(level.upper())
    root.setLevel(max(own_level, THIRD_PARTY_LEVEL))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own_level)
    # aiohttp's access log is one line per scrape: noise even when aiohttp is asked for info.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # The path validator logs every CRL it could not use as a warning with a traceback;
    # the check's verdict already says why, once, in its detail.
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
    for name, name_level in (loggers or {}).items():
        logging.getLogger(name).setLevel(name_level.upper())


def _identity(
    _logger: object, _name: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    return event
