"""The ticket sink: the built-in store that alerts become tickets in."""

from ticket_sink.store import AgentRow, Store, StoreConflict, StoreError
from ticket_sink.tickets import Correlation, StoredTicket, TicketTx

__all__ = [
    "AgentRow",
    "Correlation",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoredTicket",
    "TicketTx",
]
