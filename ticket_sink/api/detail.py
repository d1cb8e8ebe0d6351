"""The ticket detail (`GET /tickets/{id}`) as JSON, its store-derived part cached per process.

A detail is what the store holds (the ticket, its children, history, comments, workaround
and allowed actions), encoded once, and the SLA clocks, evaluated at each request's time
from their plan (`sla.plan`: what they owe to the ticket alone), kept beside the encoding
(a ticket without clocks, best effort, is encoded whole).
`DetailCache` keeps both per ticket, tagged with the store's data version read before the
ticket was read, and serves them only while the store's version is still that one. This
module must never serve an entry under a version other than the one it was read under,
never cache what is computed from the time, and never cache anything when the store has
no version to give (PostgreSQL).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ticket_sink.api.framework import json_bytes
from ticket_sink.api.views import SlaJson, ticket_detail_members
from ticket_sink.model import Comment, Ticket
from ticket_sink.sla import SlaPolicy, plan

__all__ = ["DETAIL_CACHE_ENTRIES", "DetailCache", "EncodedDetail", "encode_detail"]

# The details a process keeps: more tickets than people look at together. A detail is a
# few KiB (tens with a long history, which stops at 200 events, or many children).
DETAIL_CACHE_ENTRIES = 1024


@dataclass(frozen=True, slots=True)
class EncodedDetail:
    """A ticket's detail as JSON: whole, or the bytes around its SLA clocks."""

    head: bytes  # the whole detail, or from the opening brace to `"sla":`
    sla: SlaJson | None = None  # None: no clock runs, nothing depends on the time
    tail: bytes = b""  # from the comma after the clocks to the closing brace

    def body(self, clock: Callable[[], datetime]) -> bytes:
        """The whole detail, its clocks at `clock()` (not called if it has none)."""
        if self.sla is None:
            return self.head
        return self.head + self.sla.at(clock()) + self.tail


def encode_detail(
    ticket: Ticket,
    *,
    children: Sequence[Ticket],
    history: Sequence[dict[str, Any]],
    comments: Sequence[Comment],
    policy: SlaPolicy,
) -> EncodedDetail:
    before, after = ticket_detail_members(
        ticket, children=children, history=history, comments=comments
    )
    # Compact JSON objects: without their closing and opening braces, their members.
    head = json_bytes(before)[:-1] + b',"sla":'
    tail = b"," + json_bytes(after)[1:]
    sla = SlaJson(plan(ticket, policy))
    if sla.constant is not None:
        return EncodedDetail(head + sla.constant + tail)
    return EncodedDetail(head, sla, tail)


class DetailCache:
    """The encoded details of the tickets read last, each with the store's data version
    it was read under; `DETAIL_CACHE_ENTRIES` at most, the least recently used go first."""

    def __init__(self, entries: int = DETAIL_CACHE_ENTRIES) -> None:
        self._entries: OrderedDict[str, tuple[int, EncodedDetail]] = OrderedDict()
        self._size = entries

    def get(self, ticket_id: str, version: int | None) -> EncodedDetail | None:
        """The detail of `ticket_id` if it was read under `version`, the store's now."""
        entry = self._entries.get(ticket_id)
        if entry is None or version is None or entry[0] != version:
            return None
        self._entries.move_to_end(ticket_id)
        return entry[1]

    def put(self, ticket_id: str, version: int | None, detail: EncodedDetail) -> None:
        """Keep `detail`, read after the store's data version was `version`."""
        if version is None:
            return
        self._entries[ticket_id] = (version, detail)
        self._entries.move_to_end(ticket_id)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
