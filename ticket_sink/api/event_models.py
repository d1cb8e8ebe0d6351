"""The bodies of the audit events: one event as the API and its event stream show it, and
the stream's query. Nothing here does I/O.
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from vocab import StrictModel

__all__ = ["MAX_EVENT_ID", "EventOut", "EventQuery"]


class EventOut(StrictModel):
    """One audit event: who changed which field of which ticket, when, from what to what."""

    id: int = Field(description="orders every change of every ticket; the event stream cursor")
    ticket_id: str
    actor: str
    at: AwareDatetime
    action: str
    field: str
    before: str | None
    after: str | None


# An event id is a 64-bit signed integer in the store.
MAX_EVENT_ID = 2**63 - 1


class EventQuery(StrictModel):
    after: int | None = Field(
        None,
        ge=0,
        le=MAX_EVENT_ID,
        description="stream events after this id (the Last-Event-ID header wins); "
        "default: only changes from now on",
    )
