"""``cme-gateway send``, ``status``, ``verify`` and ``reply``: messages by hand."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

from gateway.cli import checks
from gateway.cli.chasing import enquiry_lines
from gateway.cli.settings import gateway_settings, optional_settings
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto.trust import TrustStore
from gateway.exchange.gateway import Gateway
from gateway.exchange.inbound import verify_and_parse
from gateway.exchange.outgoing import queue, readdress
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.messages.load import Limits, load_unsigned
from gateway.store import OutboundRow, OutboxState, open_store
from gateway.workflow.answering import answer
from gateway.workflow.chasing import views

STATES = [state.value for state in OutboxState]


def load_message_file(path: Path, s: Settings) -> m.Message:
    """An unsigned message file, parsed and schema-checked (the file is checked first)."""
    checks.readable_file(str(path), "message file")
    size = path.stat().st_size
    if size > s.max_body_bytes:  # before reading it
        raise GatewayError("body-too-large", f"{size} bytes; limit {s.max_body_bytes}")
    return load_unsigned(path.read_bytes(), Limits.of(s))


def with_new_id(message: m.Message) -> m.Message:
    """``message`` under a fresh message id; a message that was its own conversation starts
    a new one (a reply or a follow-up stays in its conversation)."""
    h = message.header
    mid = m.new_id()
    conversation = mid if h.conversation_id == h.message_id else h.conversation_id
    header = dataclasses.replace(h, message_id=mid, conversation_id=conversation)
    return dataclasses.replace(message, header=header)


def _undated(message: m.Message) -> bytes:
    """The message's content without its created-at (which ``send`` sets to now)."""
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    header = dataclasses.replace(message.header, created_at=epoch)
    return mx.to_bytes(mx.build(dataclasses.replace(message, header=header)))


def same_message(stored: OutboundRow, message: m.Message) -> bool:
    """Whether ``message`` is the one already queued as ``stored`` (only the date differs)."""
    if not stored.body or stored.recipient != message.header.recipient:
        return False
    return _undated(mx.parse_stored(stored.body)) == _undated(message)


@dataclasses.dataclass(frozen=True)
class Sent:
    row: OutboundRow
    resend: bool  # the identical message was already in the outbox


async def send(s: Settings, path: Path, to: str, new_id: bool = False) -> Sent:
    gw = await Gateway.open(s)
    try:
        message = load_message_file(path, s)
        if new_id:
            message = with_new_id(message)
        message = readdress(gw, message, to)
        mid = message.header.message_id
        stored = await gw.store.outbox.get(mid, with_body=True)
        if stored is None:
            try:
                row = await queue(gw, message, validate=False)  # load_unsigned validated it
            except GatewayError as exc:
                if exc.code != "duplicate-conflict":
                    raise
                stored = await gw.store.outbox.get(mid, with_body=True)  # queued since
                if stored is None:
                    raise
            else:
                await gw.store.audit.add("cli", "send", row.message_id)
                return Sent(row, resend=False)
        if same_message(stored, message):
            return Sent(stored, resend=True)
        raise GatewayError("duplicate-conflict", f"message {mid} is already in the outbox "
                           f"(to {stored.recipient}) with other content; send this file "
                           "with --new-id to make it a new message")
    finally:
        await gw.close()


def cmd_send(args: argparse.Namespace) -> int:
    path = checks.readable_file(args.file, "message file")
    to = checks.party(args.to, "--to")
    s = gateway_settings(args)
    s.endpoint(to)  # unknown-partner before anything is opened
    sent = asyncio.run(send(s, path, to, args.new_id))
    row = sent.row
    if sent.resend:
        print(f"already queued {row.message_id} to {row.recipient} (now {row.state}): this "
              f"file was sent before, unchanged, and is not sent twice; use --new-id to send "
              f"it again as a new message")
    else:
        print(f"queued {row.message_id} to {row.recipient}")
    return 0


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def cmd_status(args: argparse.Namespace) -> int:
    s = gateway_settings(args)

    async def go() -> tuple[list[OutboundRow], dict[str, dict[str, Any]]]:
        store = await open_store(s.database, s.home)
        try:
            state = OutboxState(args.state) if args.state else None
            rows = await store.outbox.recent(state=state, limit=args.limit)
            ids = [r.message_id for r in rows if r.message_type == m.MessageType.ENQUIRY]
            enquiries = await views(store, s, ids, time.time())
            if enquiries:  # the children's names are shown: every read is audited
                await store.audit.add("cli", "read-enquiries", None,
                                      f"status: {len(enquiries)} enquiries")
            return rows, enquiries
        finally:
            await store.close()

    rows, enquiries = asyncio.run(go())
    if args.json:
        print(json.dumps([{**r.to_json(), "enquiry": enquiries.get(r.message_id)}
                          for r in rows], indent=2))
        return 0
    print(f"{'message id':36}  {'to':7} {'type':8} {'state':9} {'tries':>5}  "
          f"{'updated (UTC)':19}  detail")
    for r in rows:
        detail = r.error_code or ""
        view = enquiries.get(r.message_id)
        if view is not None and r.state in ("delivered", "answered", "closed"):
            # each child's current outcome ("?" while awaited), not only the latest reply's
            detail = ", ".join(f"{c['child_ref']}={c['outcome'] or '?'}"
                               for c in view["children"])
        elif r.outcomes:
            detail = ", ".join(f"{o['child_ref']}={o['outcome']}" for o in json.loads(r.outcomes))
        elif r.last_error and r.state in ("sending", "failed", "expired"):
            detail = f"{detail} {r.last_error}".strip()
        print(f"{r.message_id:36}  {r.recipient:7} {r.message_type:8} {r.state:9} "
              f"{r.attempts:>5}  {_when(r.updated_at):19}  {detail[:80]}")
        if view is not None:
            for line in enquiry_lines(view, s.chasing == "manual"):
                print(line)
    if not rows:
        print(f"(no {args.state} messages in the outbox)" if args.state
              else "(the outbox is empty)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    path = checks.readable_file(args.file, "message file")
    if args.partners:
        checks.readable_folder(args.partners, "--partners")
    found = optional_settings(args)
    if found is not None:
        s, _ = found
        partners = Path(args.partners) if args.partners else s.path(s.partners_dir)
        ca = s.path(s.ca_file) if s.ca_file else None
        crl = s.path(s.crl_file) if s.crl_file else None
    else:
        s = Settings(party="S2S")
        partners = Path(args.partners or "keys/partners")
        ca = crl = None
    size = path.stat().st_size
    if size > s.max_body_bytes:
        raise GatewayError("body-too-large", f"{size} bytes; limit {s.max_body_bytes}")
    trust = TrustStore(partners, ca, crl, s.crl_stale_policy)
    message = verify_and_parse(path.read_bytes(), trust, s)
    h = message.header
    print(f"OK sender={h.sender} type={h.message_type.value} id={h.message_id}")
    return 0


_DIGITS = re.compile(r"[0-9/]+")


def parse_outcome(text: str) -> m.ChildOutcome:
    """``REF=OUTCOME[@LAESTAB:School name]`` (or ``@LAESTAB``, or ``@School name``)."""
    ref, sep, rest = text.partition("=")
    outcome, _, school = rest.partition("@")
    if not sep or not ref.strip():
        raise GatewayError("bad-request", f"--outcome {text[:60]!r}: use "
                           "REF=OUTCOME[@LAESTAB:School name]")
    try:
        oc = m.Outcome(outcome)
    except ValueError:
        raise GatewayError("bad-request", f"outcome must be one of "
                           f"{', '.join(o.value for o in m.Outcome)}") from None
    sch = None
    if school:
        head, colon, name = school.partition(":")
        if colon or _DIGITS.fullmatch(head):
            laestab = checks.laestab(head, "--outcome school")
            sch = m.School(name=name.strip() or laestab, laestab=laestab)
        else:
            sch = m.School(name=school.strip(), laestab=None)
    return m.ChildOutcome(child_ref=ref.strip(), outcome=oc, school=sch)


def cmd_reply(args: argparse.Namespace) -> int:
    outcomes = [parse_outcome(o) for o in args.outcome]
    s = gateway_settings(args)

    async def go() -> str:
        gw = await Gateway.open(s)
        try:
            row = await answer(gw, args.message_id, outcomes, args.comments, "cli",
                               partial=args.partial)
            return row.message_id
        finally:
            await gw.close()

    print(f"queued reply {asyncio.run(go())}")
    return 0


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("send", help="sign and queue an unsigned message file")
    sp.add_argument("file")
    sp.add_argument("--to", required=True, help="the partner's party id")
    sp.add_argument("--new-id", action="store_true",
                    help="send it as a new message: a fresh message id (and conversation id, "
                         "if the message was its own conversation)")
    sp.set_defaults(func=cmd_send)

    sp = sub.add_parser("status", help="the outbox, newest first; each enquiry with its "
                        "children, outcomes, due date, chasers and escalation")
    sp.add_argument("--state", choices=STATES)
    sp.add_argument("--limit", type=checks.limit, default=30)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("verify", help="check a signed message file (no replay check)")
    sp.add_argument("file")
    sp.add_argument("--partners", help="partner directory (default: from the config)")
    sp.set_defaults(func=cmd_verify, results_on_stdout=True)

    sp = sub.add_parser("reply", help="reply to a received enquiry")
    sp.add_argument("message_id")
    sp.add_argument("--outcome", action="append", required=True,
                    help="REF=OUTCOME[@LAESTAB:School name], once per child")
    sp.add_argument("--comments")
    sp.add_argument("--partial", action="store_true",
                    help="confirm a reply that leaves children of the enquiry out")
    sp.set_defaults(func=cmd_reply)
