"""Chasing overdue replies, and escalating to a manager (the enquiring LA).

Every Enquiry this gateway sends is tracked (``gateway.exchange.tracking``): its reply is due
``reply_due_school_days`` school days after the day it went. ``ChaseWorker`` looks every
``chase_check_seconds`` for delivered enquiries with a child still awaiting an answer whose
chase date has passed, and then:

- with ``chasing = "auto"``, sends a signed **Chaser** in the enquiry's conversation (``chase``),
  the next one ``chase_interval_school_days`` later;
- with ``chasing = "manual"``, notes the enquiry overdue once (audit, log); the officer sees
  it in ``cme-gateway status`` and chases with ``cme-gateway chase ID``;
- once ``chasers_before_escalation`` chasers have gone and the last one's interval has passed
  with a child still unanswered, **escalates** the enquiry to a manager (``escalate``).

A child answered ``not-known-monitoring`` counts as answered: the partner has said it will
watch and reply again. Escalated enquiries are not chased automatically any more (the
manager takes over); an officer may still chase one by hand.

Log lines name message ids and child references only; the status view (``views``) carries the
children's names because it is for the LA's own officers, and reading it through the API is
audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from gateway.core.clock import every, local, local_date
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.exchange.tracking import add_school_days, school_days_after
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import OutboundRow, Store, Tx
from gateway.store.chasing import ChaserSent, Chasing, SentChild, SentEnquiry
from gateway.store.outbox import DELIVERED_STATES
from gateway.workflow import notify

log = logging.getLogger(__name__)

MAX_CHASERS = 99  # the Chaser schema's ChaserNumber
MAX_REASON = 500
MAX_COMMENTS = 4000  # the schema's Long text
# Characters XML 1.0 cannot carry: refused before anything is built or signed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _short(message_id: str) -> str:
    """An id as given, cut short for a refusal (ids are UUIDs; input may be anything)."""
    return message_id[:40]


def check_text(text: str, what: str, limit: int) -> str:
    """Free text an officer gives (a chaser's comments, a review's reason): not blank, at
    most ``limit`` characters, and only characters a message can carry."""
    text = text.strip()
    if not text or len(text) > limit or _NOT_XML.search(text):
        raise GatewayError("bad-request", f"{what} must be 1 to {limit} characters of text")
    return text


def when(t: float | None) -> str:
    """A time for an officer: local time in England, e.g. ``Tue 8 Dec 2026 14:03``."""
    if not t:
        return "-"
    d = local(t)
    return f"{d:%a} {d.day} {d:%b %Y %H:%M}"


def day(d: dt.date | str | None) -> str:
    """A date for an officer, e.g. ``Tue 22 Dec 2026``."""
    if not d:
        return "-"
    d = dt.date.fromisoformat(d) if isinstance(d, str) else d
    return f"{d:%a} {d.day} {d:%b %Y}"


async def chase(gw: Gateway, enquiry_id: str, actor: str,
                comments: str | None = None) -> OutboundRow:
    """Sign and queue the next Chaser for a sent Enquiry, naming the children still awaiting
    an answer; counted, audited and queued in one transaction."""
    if comments is not None:
        comments = check_text(comments, "comments", MAX_COMMENTS)
    sent = await gw.store.chasing.get(enquiry_id)
    if sent is None:
        raise GatewayError("not-found", f"no enquiry {_short(enquiry_id)} sent by this "
                           f"gateway")
    out = await gw.store.outbox.get(enquiry_id, with_body=True)
    if out is None or out.state not in DELIVERED_STATES:
        state = out.state.value if out else "missing"
        raise GatewayError("enquiry-not-chaseable", f"enquiry {enquiry_id} is {state}, not "
                           f"delivered")
    children = (await gw.store.chasing.children([enquiry_id])).get(enquiry_id, [])
    awaiting = [c.child_ref for c in children if c.outcome is None]
    if not awaiting:
        raise GatewayError("enquiry-not-chaseable",
                           f"every child of enquiry {enquiry_id} has been answered")
    number = sent.chasers + 1
    if number > MAX_CHASERS:
        raise GatewayError("enquiry-not-chaseable", f"{MAX_CHASERS} chasers already sent")
    enquiry = mx.parse_stored(out.body)
    assert isinstance(enquiry, m.Enquiry)
    s = gw.settings
    now = gw.clock.time()
    today = local_date(now)
    next_after, _ = add_school_days(s, today, s.chase_interval_school_days, enquiry_id)
    sent_on, due = dt.date.fromisoformat(sent.sent_on), dt.date.fromisoformat(sent.due_on)
    header = gw.header(m.MessageType.CHASER, sent.recipient,
                       conversation_id=sent.conversation_id, in_reply_to=enquiry_id)
    if comments is None:
        comments = (f"Reminder {number}: our enquiry of {day(sent_on)} was due a reply by "
                    f"{day(due)}. {len(awaiting)} of the {len(children)} "
                    f"{'child' if len(children) == 1 else 'children'} "
                    f"{'is' if len(awaiting) == 1 else 'are'} still awaiting an answer. "
                    f"Please reply in this conversation.")
    chaser = m.Chaser(header=header, chaser_number=number, date_sent=today,
                      officer=enquiry.officer, enquiry_date=sent_on, reply_due=due,
                      awaiting=tuple(awaiting), comments=comments)
    record = ChaserSent(header.message_id, enquiry_id, number, now, actor)

    async def counted(tx: Tx) -> None:
        if not await Chasing.record_chaser(tx, record, next_after.isoformat()):
            raise GatewayError("enquiry-not-chaseable",
                               f"another chaser of enquiry {enquiry_id} was sent just now")
        await gw.store.audit.add(actor, "chase", enquiry_id,
                                 f"chaser {number} {header.message_id}; {len(awaiting)} "
                                 f"children awaiting", tx=tx)

    row = await queue(gw, chaser, step=counted)
    log.info("chaser queued message=%s enquiry=%s number=%d", row.message_id, enquiry_id,
             number)
    return row


async def escalate(gw: Gateway, enquiry_id: str, reason: str, actor: str = "gateway") -> bool:
    """Escalate a sent Enquiry to a manager: recorded (``escalated_at``), audited, logged as a
    WARNING naming the message id only, and shown by ``cme-gateway status``. False when it
    was escalated already.

    This is the one place an escalation happens; the managers (and officers) are told in the
    same transaction: the notifications queue, and e-mail when ``smtp_host`` is set."""
    now = gw.clock.time()

    async def op(tx: Tx) -> bool:
        if not await Chasing.mark_escalated(tx, enquiry_id, reason, now):
            return False
        await gw.store.audit.add(actor, "escalate", enquiry_id, reason[:MAX_REASON], tx=tx)
        await notify.queue(gw, tx, "escalation",
                           f"Enquiry {enquiry_id} escalated to a manager: {reason[:200]}",
                           gw.settings.addresses("notify_managers", "notify_officers"),
                           message_id=enquiry_id)
        return True

    done = await gw.store.backend.write(op)
    if done:
        log.warning("enquiry escalated to a manager message=%s: %s", enquiry_id, reason)
    return done


async def note_overdue(gw: Gateway, enquiry_id: str) -> bool:
    """Record, once, that an enquiry's reply is overdue (manual chasing: the officer acts)."""
    now = gw.clock.time()

    async def op(tx: Tx) -> bool:
        if not await Chasing.mark_overdue(tx, enquiry_id, now):
            return False
        await gw.store.audit.add("gateway", "overdue", enquiry_id,
                                 "reply overdue; chase with cme-gateway chase", tx=tx)
        return True

    done = await gw.store.backend.write(op)
    if done:
        log.info("reply overdue message=%s: chase it with cme-gateway chase", enquiry_id)
    return done


async def review(gw: Gateway, enquiry_id: str, child_ref: str, accept: bool, actor: str,
                 reason: str) -> SentChild:
    """The officer's decision on a child flagged for review (a later not-known after a
    known): ``accept`` makes the pending outcome the child's outcome; otherwise the known
    outcome stays. Audited with the reason."""
    reason = check_text(reason, "the reason (audited with the decision)", MAX_REASON)
    what = "accepted" if accept else "rejected"

    async def op(tx: Tx) -> SentChild:
        done = await Chasing.resolve_review(tx, enquiry_id, child_ref, accept)
        if done is None:
            raise GatewayError("not-found", f"child {child_ref[:40]!r} of enquiry "
                               f"{_short(enquiry_id)} is not awaiting review")
        before, after = done
        await gw.store.audit.add(
            actor, f"review-{what}", enquiry_id,
            f"child {child_ref}: {before.pending_outcome} from reply {before.pending_reply_id} "
            f"{what}; outcome now {after.outcome}; reason: {reason}", tx=tx)
        return after

    after = await gw.store.backend.write(op)
    log.info("review %s message=%s child_ref=%s", what, enquiry_id, child_ref)
    return after


class ChaseWorker:
    """Finds overdue enquiries and chases, notes or escalates them (see the module)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def run(self) -> None:
        await every(lambda: self.gw.settings.chase_check_seconds, self.tick, "chase",
                    self.gw.clock)

    async def tick(self) -> dict[str, list[str]]:
        """One pass; what was done, by enquiry id (for tests and logs)."""
        s, gw = self.gw.settings, self.gw
        today = local_date(gw.clock.time())
        done: dict[str, list[str]] = {"chased": [], "escalated": [], "overdue": []}
        rows = await gw.store.chasing.needing_action(today.isoformat(), s.chasing == "auto",
                                                     s.chasers_before_escalation)
        for r in rows:
            try:
                if r.chasers >= s.chasers_before_escalation:
                    if await escalate(gw, r.message_id, f"no reply after {r.chasers} "
                                      f"chaser(s); the reply was due by {r.due_on}"):
                        done["escalated"].append(r.message_id)
                elif s.chasing == "auto":
                    await chase(gw, r.message_id, actor="gateway")
                    done["chased"].append(r.message_id)
                elif await note_overdue(gw, r.message_id):
                    done["overdue"].append(r.message_id)
            except GatewayError as exc:  # one enquiry must not hold up the others
                log.warning("chasing message=%s failed: %s", r.message_id, exc.code)
        return done


def _view(settings: Settings, e: SentEnquiry, children: list[SentChild],
          now: float) -> dict[str, Any]:
    today = local_date(now)
    due = dt.date.fromisoformat(e.due_on)
    awaiting = [c.child_ref for c in children if c.outcome is None]
    overdue = bool(awaiting) and today > due
    days, estimated = school_days_after(settings, due, today) if overdue else (0, False)
    return {
        "message_id": e.message_id, "recipient": e.recipient,
        "conversation_id": e.conversation_id, "sent_at": e.sent_at,
        "sent_at_local": when(e.sent_at), "due_on": e.due_on,
        "due_estimated": bool(e.due_estimated), "awaiting": awaiting,
        "waiting_since": e.sent_at if awaiting else None, "overdue": overdue,
        "overdue_school_days": days, "overdue_estimated": estimated,
        "chasers": e.chasers, "last_chased_at": e.last_chased_at,
        "next_chase_after": e.chase_after if awaiting and e.escalated_at is None else None,
        "escalated": e.escalated_at is not None, "escalated_at": e.escalated_at,
        "escalation_reason": e.escalation_reason,
        "needs_review": [c.child_ref for c in children if c.needs_review],
        "children": [c.to_json() for c in children],
    }


async def views(store: Store, settings: Settings, ids: list[str],
                now: float) -> dict[str, dict[str, Any]]:
    """The officer's view of each sent Enquiry among ``ids`` (others are left out): per
    child the name, the outcome with the school, who answered and when; waiting since, due
    or overdue (in school days), chasers, escalation and children needing review."""
    sent = await store.chasing.enquiries(ids)
    kids = await store.chasing.children(list(sent))
    return {mid: _view(settings, e, kids.get(mid, []), now) for mid, e in sent.items()}
