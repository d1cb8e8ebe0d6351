"""The bodies of a ticket's notifications (and their deliveries) and of the silences
that hold them. Nothing here does I/O.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from ticket_sink.api.fields import IsoTime, MatcherIn, Matchers
from vocab import StrictModel

__all__ = [
    "DeliveryOut",
    "NotificationList",
    "NotificationOut",
    "SilenceCreate",
    "SilenceList",
    "SilenceOut",
    "SilenceQuery",
]


class DeliveryOut(StrictModel):
    sink: str
    state: Literal["pending", "held", "delivered", "failed"]
    attempts: int
    next_attempt_at: AwareDatetime | None
    last_error: str | None
    updated_at: AwareDatetime


class NotificationOut(StrictModel):
    """A notification of the ticket; no deliveries and no `routed_at`: still waiting."""

    id: str = Field(description="stable: every sink sends it, so receivers drop repeats")
    event: str
    at: AwareDatetime
    due_at: AwareDatetime
    routed_at: AwareDatetime | None
    deliveries: list[DeliveryOut]


class NotificationList(StrictModel):
    items: list[NotificationOut]


class SilenceCreate(StrictModel):
    """Hold the notifications of tickets whose labels match every matcher until `ends_at`."""

    matchers: Matchers
    ends_at: IsoTime
    starts_at: IsoTime | None = Field(None, description="default: now")
    comment: str = Field("", max_length=2000)


class SilenceOut(StrictModel):
    id: str
    matchers: list[MatcherIn]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str
    comment: str


class SilenceList(StrictModel):
    items: list[SilenceOut]


class SilenceQuery(StrictModel):
    include_expired: bool = Field(False, description="also the silences that have ended")
