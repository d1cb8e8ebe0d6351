"""The logging set-up: the agent's own events at `log.level`, libraries' loggers at warning
unless named in `log.loggers`, and a burst of one warning cut short."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from vigie.logs import RepeatLimiter, configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the next test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    named = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    config = structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in named.items():
            logging.getLogger(name).setLevel(old)
        for name in set(logging.root.manager.loggerDict) - set(named):
            logging.getLogger(name).setLevel(logging.NOTSET)
        structlog.configure(**config)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize(
    ("loggers", "written"),
    [
        pytest.param({}, ["own info", "library warning"], id="libraries-at-warning"),
        pytest.param(
            {"httpx": "info"},
            ["own info", "library info", "library warning"],
            id="a-library-asked-for-info",
        ),
        pytest.param({"vigie": "warning"}, ["library warning"], id="own-logger-quieted"),
    ],
)
def test_levels_by_logger(loggers: dict[str, str], written: list[str]) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream, loggers=loggers, cache_loggers=False)

    structlog.get_logger("vigie.test").info("own info")
    structlog.get_logger("vigie.test").debug("own debug")
    logging.getLogger("httpx").info("library info")
    logging.getLogger("httpx").warning("library warning")

    assert [line["event"] for line in lines(stream)] == written


@pytest.mark.usefixtures("restored_logging")
def test_an_own_debug_level_does_not_open_the_libraries() -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream, cache_loggers=False)

    logging.getLogger("httpx").info('HTTP Request: POST https://chat.example/hooks/secret "200"')
    structlog.get_logger("probes.x").debug("own debug")

    assert [line["event"] for line in lines(stream)] == ["own debug"]


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_one_warning_is_cut_and_counted() -> None:
    clock = Ticks()
    limiter = RepeatLimiter(burst=3, window_seconds=10.0, clock=clock)

    def record(message: object, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("asyncio", level, __file__, 1, message, None, None)

    passed = [limiter.filter(record("socket.accept() out of system resource")) for _ in range(50)]
    other = limiter.filter(record("another message"))
    infos = [limiter.filter(record("an info", logging.INFO)) for _ in range(50)]
    clock.now = 10.0
    later = record({"event": "socket.accept() out of system resource"})
    after_window = record("socket.accept() out of system resource")

    assert passed == [True] * 3 + [False] * 47
    assert other
    assert all(infos)
    assert limiter.filter(after_window)
    assert after_window.msg == "socket.accept() out of system resource (47 similar lines dropped)"
    assert limiter.filter(later)  # a structlog event of the same name
