"""The store: one repository per aggregate (``inbox``, ``outbox``, ``transfers``, ``cases``,
``records``, ``audit``, ``clients``, ``users``, ``sessions``) over swappable backends: SQLite
(the embedded default) and PostgreSQL. Repositories return frozen row dataclasses; outbox
states are ``OutboxState``."""

from gateway.store.base import Backend, Dialect, Step, Tx
from gateway.store.inbox import AcceptResult, InboundRow
from gateway.store.outbox import OutboundRow, OutboxEvent, OutboxState
from gateway.store.store import Store, open_store
from gateway.store.users import Role, SessionRow, UserRow

__all__ = ["AcceptResult", "Backend", "Dialect", "InboundRow", "OutboundRow", "OutboxEvent",
           "OutboxState", "Role", "SessionRow", "Step", "Store", "Tx", "UserRow", "open_store"]
