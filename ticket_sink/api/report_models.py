"""The bodies of the report: the figures of the tickets created in a period, and its
query. Nothing here does I/O.
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from ticket_sink.api.fields import IsoTime
from vocab import StrictModel

__all__ = ["ReportOut", "ReportQuery"]


class ReportOut(StrictModel):
    """Tickets created in `[since, until)`: counts, mean times and SLA outcomes."""

    since: AwareDatetime
    until: AwareDatetime
    total: int
    mtta_seconds: float | None = Field(description="mean time to acknowledge")
    mttr_seconds: float | None = Field(description="mean time to resolve")
    sla_met: int
    sla_breached: int
    sla_compliance: float | None = Field(description="met / (met + breached)")
    by_severity: dict[str, int]
    by_state: dict[str, int]
    by_type: dict[str, int]
    by_service: dict[str, int]


class ReportQuery(StrictModel):
    since: IsoTime
    until: IsoTime | None = Field(None, description="default: now; before since: an empty report")
