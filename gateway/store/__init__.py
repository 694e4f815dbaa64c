"""The store: one interface (``Store``) over swappable backends: SQLite (the embedded
default) and PostgreSQL.

``Store`` holds every domain operation, written once in portable SQL against a small
transaction interface (``Tx``). A backend supplies durable transactions and the few
dialect-specific statements (see ``Dialect``).
"""

from gateway.store.base import Backend, Dialect, Tx
from gateway.store.store import AcceptResult, InboundRow, OutboundRow, Store, open_store

__all__ = ["AcceptResult", "Backend", "Dialect", "InboundRow", "OutboundRow", "Store", "Tx",
           "open_store"]
