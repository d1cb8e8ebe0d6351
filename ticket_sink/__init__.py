"""The ticket sink: the built-in store that alerts become tickets in.

The names below are loaded on first use, so that a command which only reads the ticket
model (or prints its help) does not import the store and its database drivers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from ticket_sink.agents import AgentRow as AgentRow
    from ticket_sink.store import Store as Store
    from ticket_sink.store import StoreConflict as StoreConflict
    from ticket_sink.store import StoreError as StoreError
    from ticket_sink.ticket_rows import Correlation as Correlation
    from ticket_sink.ticket_rows import StoredTicket as StoredTicket
    from ticket_sink.tickets import TicketTx as TicketTx
else:
    # Hidden from type checkers, which read the imports above instead.
    __getattr__, __dir__, __all__ = lazy_loader.attach(
        __name__,
        submod_attrs={
            "agents": ["AgentRow"],
            "store": ["Store", "StoreConflict", "StoreError"],
            "ticket_rows": ["Correlation", "StoredTicket"],
            "tickets": ["TicketTx"],
        },
    )
