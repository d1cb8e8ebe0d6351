"""The one retry policy: which answers are delivered, retried (and when) or given up."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web

from ticket_sink.outbound._base import post_json
from ticket_sink.outbound.retry import (
    Outcome,
    RetryPolicy,
    Verdict,
    next_attempt_at,
    outcome_of_status,
)

from .receivers import receiver

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(initial_seconds=2, max_seconds=60, jitter_seconds=1, max_attempts=5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("status", "headers", "verdict", "retry_after"),
    [
        pytest.param(200, {}, Verdict.DELIVERED, None, id="200"),
        pytest.param(202, {}, Verdict.DELIVERED, None, id="202"),
        pytest.param(400, {}, Verdict.FAILED, None, id="400"),
        pytest.param(404, {}, Verdict.FAILED, None, id="404"),
        pytest.param(429, {"Retry-After": "120"}, Verdict.RETRY, 120.0, id="429-retry-after"),
        pytest.param(
            429,
            {"Retry-After": "Fri, 06 Mar 2026 12:00:30 GMT"},
            Verdict.RETRY,
            30.0,
            id="429-retry-after-date",
        ),
        pytest.param(500, {}, Verdict.RETRY, None, id="500"),
        pytest.param(503, {}, Verdict.RETRY, None, id="503"),
    ],
)
async def test_answers_from_a_real_receiver(
    status: int, headers: dict[str, str], verdict: Verdict, retry_after: float | None
) -> None:
    async def answer(request: web.Request, body: bytes) -> web.Response:
        return web.Response(status=status, text="nope" if status >= 400 else "", headers=headers)

    async with receiver(answer) as server, httpx.AsyncClient() as client:
        outcome = await post_json(client, server.url, b"{}", headers={}, timeout_seconds=5, now=NOW)
    assert outcome.verdict is verdict
    assert outcome.retry_after == retry_after
    if verdict is Verdict.DELIVERED:
        assert outcome.reason == ""
    else:  # the reason says what the receiver answered
        assert outcome.reason == f"HTTP {status}: nope"


async def test_connection_refused_is_retried() -> None:
    async with httpx.AsyncClient() as client:
        outcome = await post_json(
            client,
            f"http://127.0.0.1:{closed_port()}/",
            b"{}",
            headers={},
            timeout_seconds=5,
            now=NOW,
        )
    assert outcome.verdict is Verdict.RETRY
    assert outcome.reason.startswith("ConnectError")


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 2, 3), (2, 4, 5), (3, 8, 9), (4, 16, 17)],
    ids=["first", "second", "third", "fourth"],
)
def test_backoff_doubles_with_jitter(attempts: int, low: float, high: float) -> None:
    for _ in range(20):
        retry_at = next_attempt_at(POLICY, attempts, Outcome(Verdict.RETRY, "x"), NOW)
        assert retry_at is not None
        assert low <= (retry_at - NOW).total_seconds() <= high


def test_backoff_is_capped() -> None:
    policy = POLICY.model_copy(update={"max_attempts": 100})
    retry_at = next_attempt_at(policy, 40, Outcome(Verdict.RETRY, "x"), NOW)
    assert retry_at is not None
    assert retry_at - NOW <= timedelta(seconds=61)


def test_retry_after_wins_over_backoff_up_to_a_bound() -> None:
    assert next_attempt_at(POLICY, 1, Outcome(Verdict.RETRY, "x", 120), NOW) == NOW + timedelta(
        seconds=120
    )
    huge = Outcome(Verdict.RETRY, "x", 10 * 86400)
    assert next_attempt_at(POLICY, 1, huge, NOW) == NOW + timedelta(hours=1)


def test_no_retry_after_the_last_attempt_or_a_permanent_failure() -> None:
    assert next_attempt_at(POLICY, 5, Outcome(Verdict.RETRY, "x"), NOW) is None
    assert next_attempt_at(POLICY, 1, Outcome(Verdict.FAILED, "x"), NOW) is None


def test_a_long_error_page_is_cut_in_the_reason() -> None:
    outcome = outcome_of_status(502, {}, "<html>" + "x" * 5000, NOW)
    assert len(outcome.reason) <= 300
