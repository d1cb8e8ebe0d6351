"""The ticket sink: the built-in store that alerts become tickets in."""

from ticket_sink.store import AgentRow, Store, StoreError

__all__ = ["AgentRow", "Store", "StoreError"]
