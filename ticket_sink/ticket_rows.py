"""Tickets as rows of the `tickets` table, and back: the ticket, the correlator's
bookkeeping beside it (`Correlation`), and the pair as read (`StoredTicket`).

Pure mapping between the model and the columns; it must never run a query.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ticket_sink.codec import iso, parse_iso, ticket_fields, ticket_from_fields
from ticket_sink.model import (
    Ticket,
)

__all__ = [
    "Correlation",
    "StoredTicket",
    "correlation_values",
    "new_ticket_id",
    "stored_ticket",
    "ticket_values",
]


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648's base32 alphabet
_ID_SHIFTS = tuple(range(45, -1, -5))  # ten 5-bit digits of a 50-bit number, high first


class _RandomBits:
    """50-bit numbers from the operating system's random source, drawn a few thousand
    bytes at a time: one system call per 512 ids instead of one each (an alert storm
    creates thousands of tickets a second). A child process starts a pool of its own."""

    _PER_DRAW = 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: Iterator[int] = iter(())

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._numbers = iter(())

    def next(self) -> int:
        with self._lock:
            number = next(self._numbers, None)
            if number is None:
                raw = os.urandom(7 * self._PER_DRAW)
                numbers = [
                    int.from_bytes(raw[k : k + 7], "big") >> 6 for k in range(0, len(raw), 7)
                ]
                self._numbers = iter(numbers)
                number = next(self._numbers)
            return number


_random_bits = _RandomBits()
os.register_at_fork(after_in_child=_random_bits.forget)


def new_ticket_id() -> str:
    """A short id, unique across agents sharing a database: `T` and 10 base32 characters
    (50 random bits; the primary key turns the unlikely collision into a retry)."""
    bits = _random_bits.next()
    return "T" + "".join([_BASE32[(bits >> shift) & 31] for shift in _ID_SHIFTS])


@dataclass(frozen=True, slots=True)
class Correlation:
    """The correlator's bookkeeping on a ticket, beside the ticket itself."""

    service: str = ""
    node: str = ""  # the alert's `target` label: the ticket's place in the topology
    group_key: str | None = None
    caused_by: str | None = None
    notify: bool = True
    firing: bool = False
    recovered_at: datetime | None = None
    flapping: bool = False
    alert_changes: tuple[datetime, ...] = ()
    reporter: str = ""

    @classmethod
    def for_labels(cls, labels: Mapping[str, str], **fields: Any) -> Correlation:
        return cls(service=labels.get("service", ""), node=labels.get("target", ""), **fields)


@dataclass(frozen=True, slots=True)
class StoredTicket:
    ticket: Ticket
    correlation: Correlation = field(default_factory=Correlation)
    updated_at: datetime | None = None


def ticket_values(ticket: Ticket) -> dict[str, Any]:
    """The `tickets` table's columns for `ticket` (the column types keep the times)."""
    return {**ticket_fields(ticket, _as_is), "fingerprint": ticket.fingerprint or None}


def _as_is(moment: Any) -> Any:
    return moment


def correlation_values(correlation: Correlation) -> dict[str, Any]:
    """The `tickets` table's columns for the correlator's bookkeeping."""
    return {
        "service": correlation.service,
        "node": correlation.node,
        "group_key": correlation.group_key,
        "caused_by": correlation.caused_by,
        "notify": correlation.notify,
        "firing": correlation.firing,
        "recovered_at": correlation.recovered_at,
        "flapping": correlation.flapping,
        "alert_changes": [iso(at) for at in correlation.alert_changes],
        "reporter": correlation.reporter,
    }


def stored_ticket(row: Any) -> StoredTicket:
    """The ticket and its correlation from a row of the `tickets` table."""
    ticket = ticket_from_fields(row._mapping, _as_is)
    correlation = Correlation(
        service=row.service,
        node=row.node,
        group_key=row.group_key,
        caused_by=row.caused_by,
        notify=row.notify,
        firing=row.firing,
        recovered_at=row.recovered_at,
        flapping=row.flapping,
        alert_changes=tuple(parse_iso(at) for at in row.alert_changes),
        reporter=row.reporter,
    )
    return StoredTicket(ticket, correlation, row.updated_at)
