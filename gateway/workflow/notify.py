"""Telling people: safeguarding escalations, escalated enquiries and found children.

Each notification is first a row in the store, written in the transaction of what caused it
(the officers' queue shows it even when e-mail is down), and then an e-mail through the
configured SMTP server (``smtp_host``), sent by the background worker and retried up to
``MAX_ATTEMPTS`` times. An e-mail leaves the gateway's protection, so it carries ids, the
kind of event and where to look, never a child's name, date of birth or address.

The standard library's ``smtplib`` sends it (in a thread): it speaks SMTP, STARTTLS and
AUTH, which is all this needs, so no further dependency is added.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage

from gateway.core.clock import every
from gateway.exchange.gateway import Gateway
from gateway.store import Tx
from gateway.store.notifications import Notification

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10


async def queue(gw: Gateway, tx: Tx, kind: str, subject: str, recipients: str, *,
                urgent: bool = False, case_id: str | None = None,
                message_id: str | None = None) -> None:
    await gw.store.notifications.add(tx, kind, subject, recipients, urgent=urgent,
                                     case_id=case_id, message_id=message_id)


async def safeguarding(gw: Gateway, tx: Tx, case_id: str, why: str, actor: str) -> bool:
    """Escalate a case at once: urgent (first in every queue), and every officer and manager
    told. ``why`` names the flag (child-protection plan, looked after), never the child."""
    if not await gw.store.cases.flag_urgent(tx, case_id, actor, f"safeguarding: {why}"):
        return False
    await queue(gw, tx, "safeguarding",
                f"URGENT safeguarding: case {case_id} ({why})",
                gw.settings.addresses("notify_officers", "notify_managers"), urgent=True,
                case_id=case_id)
    await gw.store.audit.add(actor, "safeguarding-escalation", None,
                             f"case {case_id}: {why}", tx=tx)
    log.warning("safeguarding escalation case=%s (%s)", case_id, why)
    return True


def _email(gw: Gateway, n: Notification) -> EmailMessage:
    s = gw.settings
    msg = EmailMessage()
    msg["From"] = s.smtp_from
    msg["To"] = n.recipients
    msg["Subject"] = f"[CME gateway {s.party}] {n.subject}"
    if n.urgent:
        msg["Importance"] = "high"
        msg["X-Priority"] = "1"
    where = f"case {n.case_id}" if n.case_id else f"message {n.message_id}"
    msg.set_content(
        f"{n.subject}\n\nOpen the CME gateway of {s.party} to see {where}:\n"
        f"  cme-gateway cases show {n.case_id}\n" if n.case_id else
        f"{n.subject}\n\nOpen the CME gateway of {s.party} to see {where}.\n")
    return msg


def _send(gw: Gateway, msg: EmailMessage) -> None:
    s = gw.settings
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
        if s.smtp_starttls == "yes":
            smtp.starttls(context=ssl.create_default_context())
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password)
        smtp.send_message(msg)


class Notifier:
    """E-mails notifications in a task of its own: a slow or silent SMTP server never holds
    up the workflow's matching."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def run(self) -> None:
        await every(lambda: self.gw.settings.workflow_interval_seconds,
                    lambda: send_due(self.gw), "notify", self.gw.clock)


async def send_due(gw: Gateway) -> int:
    """E-mail every notification not sent yet (urgent first); a failure is retried on the
    next round, and logged with the notification's id."""
    if not gw.settings.smtp_host:
        return 0
    sent = 0
    for n in await gw.store.notifications.unsent(MAX_ATTEMPTS):
        try:
            await asyncio.to_thread(_send, gw, _email(gw, n))
        except (OSError, ValueError, smtplib.SMTPException) as exc:
            await gw.store.notifications.mark(n.id, type(exc).__name__)
            log.error("notification %d not e-mailed (attempt %d): %s", n.id, n.attempts + 1,
                      type(exc).__name__)
            continue
        await gw.store.notifications.mark(n.id, None)
        sent += 1
    return sent
