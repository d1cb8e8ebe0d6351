"""The one retry policy of every sink: what an answer means, and when to try again.

2xx is delivered; 429, 5xx and failures to connect are retried with exponential backoff
and jitter (tenacity's wait strategy), honouring the receiver's Retry-After; any other
answer is a permanent failure recorded with its reason. The retry happens later, from the
outbox (so it survives a restart): this module never sleeps and never reads a clock, the
caller passes `now`.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import tenacity
from pydantic import Field

from vocab import StrictModel

__all__ = [
    "Outcome",
    "RetryPolicy",
    "Verdict",
    "next_attempt_at",
    "outcome_of_error",
    "outcome_of_status",
]

# A reason is shown on the ticket and logged; a receiver's whole error page is not useful.
_REASON_LIMIT = 300


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # permanent: trying again would get the same answer


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt to deliver achieved. `retry_after` is the receiver's own wish, in
    seconds, when it gave one."""

    verdict: Verdict
    reason: str = ""
    retry_after: float | None = None


class RetryPolicy(StrictModel):
    """How often and for how long a delivery is tried again."""

    initial_seconds: float = Field(
        5.0, gt=0, description="wait before the first retry; each next wait doubles"
    )
    max_seconds: float = Field(600.0, gt=0, description="longest wait between two attempts")
    jitter_seconds: float = Field(
        2.0, ge=0, description="up to this much random time added to each wait"
    )
    max_attempts: int = Field(
        60, ge=1, description="attempts before a delivery is given up as failed"
    )
    max_retry_after_seconds: float = Field(
        3600.0, gt=0, description="longest Retry-After honoured (a longer one is cut to this)"
    )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Retry-After in seconds: either delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max((moment - now).total_seconds(), 0.0)


def outcome_of_status(status: int, headers: Mapping[str, str], body: str, now: datetime) -> Outcome:
    """The verdict on an HTTP answer."""
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED)
    reason = _short(f"HTTP {status}: {body}" if body.strip() else f"HTTP {status}")
    if status == 429 or status >= 500:
        return Outcome(Verdict.RETRY, reason, _retry_after(headers, now))
    return Outcome(Verdict.FAILED, reason)


def outcome_of_error(error: BaseException) -> Outcome:
    """The verdict on a failure to get any answer (refused, reset, timed out): the
    receiver may be back soon, so it is retried."""
    detail = str(error) or type(error).__name__
    return Outcome(Verdict.RETRY, _short(f"{type(error).__name__}: {detail}"))


def next_attempt_at(
    policy: RetryPolicy, attempts: int, outcome: Outcome, now: datetime
) -> datetime | None:
    """When to try again after `attempts` attempts ended with `outcome`; None: give up."""
    if outcome.verdict is not Verdict.RETRY or attempts >= policy.max_attempts:
        return None
    if outcome.retry_after is not None:
        delay = min(outcome.retry_after, policy.max_retry_after_seconds)
    else:
        wait = tenacity.wait_exponential(
            multiplier=policy.initial_seconds, max=policy.max_seconds
        ) + tenacity.wait_random(0, policy.jitter_seconds)
        delay = wait(_attempt_state(attempts))
    return now + timedelta(seconds=delay)


def _attempt_state(attempts: int) -> tenacity.RetryCallState:
    # tenacity's wait strategies read only the attempt number from the call state; the
    # retries themselves are the outbox's, so no Retrying object runs here.
    state = tenacity.RetryCallState(tenacity.AsyncRetrying(), None, (), {})
    state.attempt_number = attempts
    return state
