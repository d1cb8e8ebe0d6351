"""Durations and host:port addresses as users write them in the configuration."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from probes._base import CheckDefaults
from probes._config import TargetBase
from vocab import (
    Duration,
    HostPort,
    StrictModel,
    format_duration,
    parse_duration,
    split_host_port,
)


class Timing(StrictModel):
    every: Duration
    server: HostPort = "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("5m", 300.0, id="minutes"),
        pytest.param("1h30m", 5400.0, id="hours-and-minutes"),
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("2d", 172_800.0, id="days"),
        pytest.param("1.5s", 1.5, id="decimal"),
        pytest.param(" 10S ", 10.0, id="blanks-and-upper-case"),
        pytest.param("0s", 0.0, id="zero"),
        pytest.param(30, 30.0, id="integer-seconds"),
        pytest.param(0.5, 0.5, id="float-seconds"),
    ],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert Timing(every=text).every == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("10x", "invalid duration '10x'", id="unknown-unit"),
        pytest.param("-1s", "invalid duration '-1s'", id="negative-text"),
        pytest.param(-1, "cannot be negative", id="negative-number"),
        pytest.param("", "invalid duration ''", id="empty"),
        pytest.param("30", "invalid duration '30'", id="text-without-unit"),
        pytest.param("1 h", "invalid duration '1 h'", id="blank-inside"),
        pytest.param("s", "invalid duration 's'", id="unit-without-number"),
        pytest.param(True, "a duration is a number of seconds", id="bool"),
        pytest.param(None, "a duration is a number of seconds", id="null"),
        pytest.param([30], "a duration is a number of seconds", id="list"),
        pytest.param(math.nan, "must be finite", id="nan"),
        pytest.param(math.inf, "must be finite", id="infinity"),
    ],
)
def test_parse_duration_rejects(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)
    with pytest.raises(ValidationError, match=message):
        Timing(every=value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0, "0s", id="zero"),
        pytest.param(0.25, "250ms", id="milliseconds"),
        pytest.param(30, "30s", id="seconds"),
        pytest.param(5400, "1h30m", id="hours-and-minutes"),
        pytest.param(90061.5, "1d1h1m1s500ms", id="every-unit"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@settings(database=None)
@given(st.integers(min_value=0, max_value=10**11))
def test_format_duration_round_trips(millis: int) -> None:
    text = format_duration(millis / 1000)
    assert parse_duration(text) == pytest.approx(millis / 1000)
    assert format_duration(parse_duration(text)) == text


def test_durations_serialise_in_their_short_form() -> None:
    assert Timing(every="90m").model_dump() == {"every": "1h30m", "server": "127.0.0.1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1", ("127.0.0.1", 53), id="ipv4-default-port"),
        pytest.param("127.0.0.1:5353", ("127.0.0.1", 5353), id="ipv4-with-port"),
        pytest.param("ns1.example:53", ("ns1.example", 53), id="name-with-port"),
        pytest.param(" ns1.example ", ("ns1.example", 53), id="blanks-ignored"),
        pytest.param("[::1]:53", ("::1", 53), id="bracketed-ipv6-with-port"),
        pytest.param("[::1]", ("::1", 53), id="bracketed-ipv6"),
        pytest.param("::1", ("::1", 53), id="bare-ipv6"),
        pytest.param("2001:db8::53", ("2001:db8::53", 53), id="bare-ipv6-not-split"),
        pytest.param("127.0.0.1:65535", ("127.0.0.1", 65535), id="highest-port"),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


def test_split_host_port_default_port_is_a_parameter() -> None:
    assert split_host_port("127.0.0.1", default_port=0) == ("127.0.0.1", 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "the host is empty", id="empty"),
        pytest.param(":53", "the host is empty", id="port-only"),
        pytest.param("[]:53", "the host is empty", id="empty-brackets"),
        pytest.param("ns1.example:0", "the port must be 1-65535", id="port-zero"),
        pytest.param("ns1.example:65536", "the port must be 1-65535", id="port-too-high"),
        pytest.param("ns1.example:dns", "the port must be 1-65535", id="port-not-a-number"),
        pytest.param("[::1]:x", "the port must be 1-65535", id="bracketed-bad-port"),
    ],
)
def test_split_host_port_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_host_port(text)
    with pytest.raises(ValidationError, match=message):
        Timing(every=1, server=text)


def test_host_port_must_be_text() -> None:
    with pytest.raises(ValidationError, match=r"expected host:port"):
        Timing.model_validate({"every": 1, "server": 53})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, CheckDefaults(60.0, 10.0, 1), id="all-inherited"),
        pytest.param(
            {"interval": "5m", "timeout": "2s", "retries": 0},
            CheckDefaults(300.0, 2.0, 0),
            id="all-own",
        ),
        pytest.param({"timeout": "250ms"}, CheckDefaults(60.0, 0.25, 1), id="timeout-only"),
    ],
)
def test_target_timing_falls_back_to_defaults(
    fields: dict[str, Any], expected: CheckDefaults
) -> None:
    target = TargetBase.model_validate(fields)
    assert target.timing(CheckDefaults(60.0, 10.0, 1)) == expected


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        pytest.param({"retries": 6}, "retries", id="too-many-retries"),
        pytest.param({"retries": -1}, "retries", id="negative-retries"),
        pytest.param({"intervall": "1m"}, "intervall", id="unknown-key"),
    ],
)
def test_target_base_is_strict(fields: dict[str, Any], location: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TargetBase.model_validate(fields)
    assert [error["loc"] for error in caught.value.errors()] == [(location,)]
