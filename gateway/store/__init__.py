"""The store: one repository per aggregate (``inbox``, ``outbox``, ``transfers``, ``cases``,
``records``, ``audit``) over swappable backends: SQLite (the embedded default) and
PostgreSQL. Repositories return frozen row dataclasses; outbox states are ``OutboxState``."""

from gateway.store.base import Backend, Dialect, Step, Tx
from gateway.store.inbox import AcceptResult, InboundRow
from gateway.store.outbox import OutboundRow, OutboxEvent, OutboxState
from gateway.store.store import Store, open_store

__all__ = ["AcceptResult", "Backend", "Dialect", "InboundRow", "OutboundRow", "OutboxEvent",
           "OutboxState", "Step", "Store", "Tx", "open_store"]
