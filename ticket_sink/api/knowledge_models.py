"""The bodies of the known-error base: an entry, the list, and the two ways to create one
(with its workaround, or from a resolved ticket). Nothing here does I/O.
"""

from __future__ import annotations

from pydantic import AwareDatetime

from ticket_sink.api.fields import MatcherIn, Matchers, Text, TicketId
from vocab import StrictModel

__all__ = [
    "KnownErrorCreate",
    "KnownErrorFromTicket",
    "KnownErrorList",
    "KnownErrorOut",
    "KnownErrorWithWorkaround",
]


class KnownErrorOut(StrictModel):
    id: str
    matchers: list[MatcherIn]
    workaround: str
    created_at: AwareDatetime
    created_by: str


class KnownErrorList(StrictModel):
    items: list[KnownErrorOut]


class KnownErrorWithWorkaround(StrictModel):
    """Tickets whose labels match every matcher get this workaround."""

    matchers: Matchers
    workaround: Text


class KnownErrorFromTicket(StrictModel):
    """The entry's workaround is the resolution of ticket `from_ticket`."""

    matchers: Matchers
    from_ticket: TicketId


KnownErrorCreate = KnownErrorWithWorkaround | KnownErrorFromTicket
