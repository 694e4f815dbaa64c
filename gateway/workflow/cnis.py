"""The Children Not in School register (Education Act 1996 ss.436B-436G, inserted by the
Children's Wellbeing and Schools Act 2026 s.38).

The duty is not yet in force (it commences by regulations), so the register is off unless the
setting ``cnis_register = "on"``; with it off, every register command and a received
RegisterTransfer are refused with ``cnis-disabled``.

- An entry holds what s.436C lists (``messages.model.RegisterEntry``). It is checked against
  the RegisterTransfer schema, and the child must be of compulsory school age (s.436B) on the
  day it is added (``cnis-not-eligible`` otherwise). A change may not give a date of birth in
  the future, and a changed date of birth must also be of compulsory school age today (an
  unchanged one is not checked again: a child who has passed the age is closed, with a
  reason, not kept from being changed). A name must hold a letter (invisible format
  characters are dropped); a provider's unsupervised hours are at most its hours, and the
  hours by parents and by others together at most 168 a week.
- Officers add, change and close entries (CLI and API); each change is a new version with
  who, when and why.
- When a family moves, ``transfer`` sends a signed RegisterTransfer to the new LA in the same
  transaction that marks the entry transferred (and where it went). The new LA's gateway
  opens a draft entry and a case to check it (category 9, "other"); its officer activates
  the entry once checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from typing import Any

from gateway.calendar import of_compulsory_age
from gateway.core.errors import GatewayError
from gateway.core.parties import check_party, is_la
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival, Handled
from gateway.exchange.outgoing import queue
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import Tx
from gateway.store.cases import CaseState, NewCase
from gateway.store.cnis import EntryRow, EntryState

E = EntryState
MAX_TEXT = 200


def require_on(gw: Gateway) -> None:
    if gw.settings.cnis_register != "on":
        raise GatewayError("cnis-disabled", "the register is off at this gateway (setting "
                           "cnis_register)")


def _text(data: dict[str, Any], name: str, required: bool = False,
          limit: int = MAX_TEXT) -> str | None:
    v = data.get(name)
    if v is None or v == "":
        if required:
            raise GatewayError("bad-request", f"the entry needs {name}")
        return None
    if not isinstance(v, str) or len(v) > limit or not v.strip():
        raise GatewayError("bad-request", f"{name} must be text of 1 to {limit} characters")
    return v


# Zero-width joiner and non-joiner shape letters in Persian and Indic names: kept. Every other
# invisible format character (zero-width space, BOM, soft hyphen, bidi controls) is dropped.
_KEPT_FORMAT = {"\u200c", "\u200d"}


def _name(data: dict[str, Any], name: str, label: str) -> str:
    """A person's or a provider's name: invisible format characters dropped, and at least
    one letter left."""
    raw = _text(data, name, True) or ""
    clean = "".join(c for c in raw
                    if unicodedata.category(c) != "Cf" or c in _KEPT_FORMAT).strip()
    if not any(unicodedata.category(c).startswith("L") for c in clean):
        raise GatewayError("bad-request", f"{label} must contain at least one letter")
    return clean


def _flag(data: dict[str, Any], name: str) -> bool | None:
    v = data.get(name)
    if v is None or isinstance(v, bool):
        return v
    raise GatewayError("bad-request", f"{name} must be true or false")


def _hours(data: dict[str, Any], name: str) -> float | None:
    v = data.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 168:
        raise GatewayError("bad-request", f"{name} must be a number of hours a week, 0 to 168")
    # kept as given: the schema's Hours is xs:decimal, and a received entry holding 12.345
    # must not change by being saved again
    return float(v)


def _address(data: Any, name: str, required: bool = False) -> m.Address | None:
    if data is None:
        if required:
            raise GatewayError("bad-request", f"the entry needs {name}")
        return None
    if not isinstance(data, dict):
        raise GatewayError("bad-request", f"{name} must be {{lines: [...], postcode?}}")
    lines = data.get("lines") or []
    if not isinstance(lines, list) or len(lines) > 8 or not all(
            isinstance(x, str) and 0 < len(x) <= MAX_TEXT and x.strip() for x in lines):
        raise GatewayError("bad-request", f"{name}.lines must be up to 8 lines of text")
    return m.Address(lines=tuple(lines), postcode=_text(data, "postcode"),
                     telephone=_text(data, "telephone"))


def _list(data: dict[str, Any], name: str, most: int) -> list[dict[str, Any]]:
    v = data.get(name) or []
    if not isinstance(v, list) or len(v) > most or not all(isinstance(x, dict) for x in v):
        raise GatewayError("bad-request", f"{name} must be a list of at most {most} objects")
    return v


def entry_from(data: dict[str, Any]) -> m.RegisterEntry:
    """A register entry from plain data (CLI file or API JSON), every field checked."""
    if not isinstance(data, dict):
        raise GatewayError("bad-request", "the entry must be a JSON object")
    try:
        dob = dt.date.fromisoformat(_text(data, "dob", True) or "")
    except ValueError:
        raise GatewayError("bad-request", "dob must be a date, YYYY-MM-DD") from None
    try:
        eligibility = m.Eligibility(str(data.get("eligibility")))
    except ValueError:
        raise GatewayError("bad-request", "eligibility must be " + " or ".join(
            e.value for e in m.Eligibility)) from None
    return m.RegisterEntry(
        surname=_name(data, "surname", "surname"), forename=_name(data, "forename", "forename"),
        dob=dob, address=_address(data.get("address"), "address", True) or m.Address(),
        eligibility=eligibility,
        parents=tuple(m.RegisterParent(
            name=_name(p, "name", "parents: a parent's name"),
            address=_address(p.get("address"), "address"),
            provides_education=_flag(p, "provides_education"))
            for p in _list(data, "parents", 8)),
        hours_by_parents=_hours(data, "hours_by_parents"),
        hours_by_others=_hours(data, "hours_by_others"),
        providers=tuple(m.RegisterProvider(
            name=_name(p, "name", "providers: a provider's name"),
            address=_address(p.get("address"), "address"), provider_type=_text(p, "provider_type"),
            hours_per_week=_hours(p, "hours_per_week"),
            unsupervised_hours_per_week=_hours(p, "unsupervised_hours_per_week"))
            for p in _list(data, "providers", 20)),
        upn=_text(data, "upn"), nhs_number=_text(data, "nhs_number"), sen=_flag(data, "sen"),
        child_protection_enquiry=_flag(data, "child_protection_enquiry"),
        child_in_need=_flag(data, "child_in_need"), looked_after=_flag(data, "looked_after"),
        notes=_text(data, "notes", limit=4000))


def as_data(entry: m.RegisterEntry) -> dict[str, Any]:
    """The entry as plain data (JSON), None fields left out."""
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None and x != () and x != []}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, dt.date):
            return v.isoformat()
        return v.value if hasattr(v, "value") else v
    return dict(clean(dataclasses.asdict(entry)))


def _checked(gw: Gateway, entry: m.RegisterEntry, recipient: str) -> m.RegisterTransfer:
    """The entry in a RegisterTransfer, checked against its schema (what a partner would
    refuse is refused here first)."""
    message = m.RegisterTransfer(header=gw.header(m.MessageType.REGISTER_TRANSFER, recipient),
                                 date_moved=gw.clock.today(), entry=entry,
                                 officer=gw.officer())
    schemas.validate(mx.build(message))
    return message


def _eligible(gw: Gateway, entry: m.RegisterEntry) -> None:
    if not of_compulsory_age(entry.dob, gw.clock.today()):
        raise GatewayError("cnis-not-eligible", "the child is not of compulsory school age "
                           "today (Education Act 1996 s.8, s.436B)")


def _plausible(entry: m.RegisterEntry) -> None:
    """Hours that cannot be: a provider's unsupervised hours above its hours; parents and
    others together above a week's 168 hours."""
    for p in entry.providers:
        if (p.hours_per_week is not None and p.unsupervised_hours_per_week is not None
                and p.unsupervised_hours_per_week > p.hours_per_week):
            raise GatewayError("bad-request", "providers: a provider's "
                               "unsupervised_hours_per_week is more than its hours_per_week")
    if (entry.hours_by_parents or 0) + (entry.hours_by_others or 0) > 168:
        raise GatewayError("bad-request", "hours_by_parents and hours_by_others together are "
                           "more than the 168 hours of a week")


def _born(gw: Gateway, entry: m.RegisterEntry) -> None:
    if entry.dob > gw.clock.today():
        raise GatewayError("bad-request", "dob is in the future")


async def add(gw: Gateway, data: dict[str, Any], actor: str, reason: str | None = None) -> str:
    """A new entry (active). ``reason``: why it was added, kept with version 1 (by default
    "added by <actor>", so the history's why is never blank)."""
    require_on(gw)
    entry = entry_from(data)
    _checked(gw, entry, gw.party)
    _born(gw, entry)
    _eligible(gw, entry)
    _plausible(entry)
    why = (reason or "").strip()[:500] or f"added by {actor}"

    async def op(tx: Tx) -> str | None:
        entry_id = await gw.store.register.add(tx, as_data(entry), actor, f"added by {actor}",
                                               reason=why)
        await gw.store.audit.add(actor, "cnis-add", None, f"entry {entry_id}", tx=tx)
        return entry_id
    entry_id = await gw.store.backend.write(op)
    assert entry_id is not None
    return entry_id


async def update(gw: Gateway, entry_id: str, data: dict[str, Any], actor: str,
                 reason: str, expect_version: int | None = None) -> EntryRow:
    """A new version of the entry: the whole entry as it now stands. ``expect_version``: the
    version the change was made to (refused with ``cnis-entry-changed`` if another change
    came first)."""
    require_on(gw)
    entry = entry_from(data)
    _checked(gw, entry, gw.party)
    _born(gw, entry)
    _plausible(entry)

    async def op(tx: Tx) -> EntryRow:
        cur = await gw.store.register.load(tx, entry_id)
        if cur.data().get("dob") != entry.dob.isoformat():
            _eligible(gw, entry)  # a corrected date of birth is checked as on add
        row = await gw.store.register.change(tx, entry_id, actor=actor, action="changed",
                                             reason=reason, entry=as_data(entry),
                                             expect_version=expect_version)
        await gw.store.audit.add(actor, "cnis-change", None, f"entry {entry_id}", tx=tx)
        return row
    return await gw.store.backend.write(op)


async def set_state(gw: Gateway, entry_id: str, to: EntryState, actor: str,
                    reason: str) -> EntryRow:
    """Activate a checked draft, or close an entry (no longer eligible)."""
    require_on(gw)
    allowed = {E.ACTIVE: (E.DRAFT,), E.CLOSED: (E.DRAFT, E.ACTIVE)}.get(to)
    if allowed is None:
        raise GatewayError("bad-request", "an entry is activated or closed here; a transfer "
                           "moves it to another LA")

    async def op(tx: Tx) -> EntryRow:
        row = await gw.store.register.change(tx, entry_id, actor=actor, action=to.value,
                                             reason=reason, state=to, allowed=allowed)
        await gw.store.audit.add(actor, f"cnis-{to.value}", None, f"entry {entry_id}", tx=tx)
        return row
    return await gw.store.backend.write(op)


async def transfer(gw: Gateway, entry_id: str, to_la: str, actor: str, reason: str) -> str:
    """The family moved to ``to_la``: the entry goes there as a signed RegisterTransfer,
    queued in the transaction that marks it transferred. Returns the message id."""
    require_on(gw)
    to_la = check_party(to_la, "the new LA")
    if not is_la(to_la) or to_la == gw.party:
        raise GatewayError("bad-request", "the entry goes to another LA (a 3-digit code)")
    row = await gw.store.register.get(entry_id)
    if row is None:
        raise GatewayError("not-found", f"no register entry {entry_id}")
    message = _checked(gw, entry_from(row.data()), to_la)

    async def moved(tx: Tx) -> None:
        await gw.store.register.change(
            tx, entry_id, actor=actor, action="transferred", reason=reason,
            state=E.TRANSFERRED, allowed=(E.ACTIVE,), transferred_to=to_la,
            transfer_message_id=message.header.message_id, expect_version=row.version)
        await gw.store.audit.add(actor, "cnis-transfer", message.header.message_id,
                                 f"entry {entry_id} to LA {to_la}", tx=tx)

    out = await queue(gw, message, step=moved)
    return out.message_id


async def restore_stranded(gw: Gateway) -> int:
    """Entries marked transferred whose RegisterTransfer failed, expired or was cancelled go
    back to active with a new version saying why: the LA still holds the child's entry and
    may send it again. (Run by the workflow worker.)"""
    restored = 0
    for entry_id, state, to_la, code in await gw.store.register.stranded():
        async def op(tx: Tx, entry_id: str = entry_id, state: str = state,
                     to_la: str | None = to_la, code: str | None = code) -> None:
            await gw.store.register.change(
                tx, entry_id, actor="gateway", action="transfer-undone",
                reason=f"the transfer to LA {to_la} did not arrive: {state}"
                       + (f" ({code})" if code else ""),
                state=E.ACTIVE, allowed=(E.TRANSFERRED,))
            await gw.store.audit.add("gateway", "cnis-transfer-undone", None,
                                     f"entry {entry_id}: transfer {state}", tx=tx)
        try:
            await gw.store.backend.write(op)
            restored += 1
        except GatewayError:  # changed meanwhile: the next round looks again
            continue
    return restored


class RegisterTransferArrived:
    """Another LA sends a register entry (the family moved here): a draft entry, and a case
    to check it, in the transaction that stores the message."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.RegisterTransfer)
        require_on(gw)
        h = message.header
        if not is_la(h.sender):
            raise GatewayError("bad-request", "a RegisterTransfer comes from another LA")
        e = message.entry
        actor = f"party:{h.sender}"

        async def drafted(tx: Tx) -> None:
            if await gw.store.register.received(tx, h.sender, h.conversation_id):
                # a resend (new message id, same conversation): the draft exists already
                await gw.store.audit.add(actor, "cnis-received", h.message_id,
                                         "a resend: the draft entry exists already", tx=tx)
                return
            case_id = await gw.store.cases.open(tx, NewCase(
                category=int(m.Category.OTHER),
                reason="Children Not in School register entry received: check it",
                source=f"RegisterTransfer from LA {h.sender}", surname=e.surname,
                forename=e.forename, upn=e.upn, nhs_number=e.nhs_number, dob=e.dob.isoformat(),
                message_id=h.message_id, state=CaseState.LOGGED,
                details={"from_la": h.sender, "date_moved": message.date_moved.isoformat()}),
                actor)
            entry_id = await gw.store.register.add(
                tx, as_data(e), actor, f"transfer from LA {h.sender}", state=E.DRAFT,
                reason=f"moved here on {message.date_moved.isoformat()}",
                received=(h.message_id, h.sender, h.conversation_id), case_id=case_id)
            await gw.store.audit.add(actor, "cnis-received", h.message_id,
                                     f"draft entry {entry_id}, case {case_id}", tx=tx)

        return Handled(step=drafted)
