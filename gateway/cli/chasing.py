"""``cme-gateway chase`` and ``outcome accept|reject``: the enquiring officer's commands for
overdue replies and for children flagged for review; and how ``status`` shows a sent enquiry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from gateway.cli.settings import gateway_settings
from gateway.exchange.gateway import Gateway
from gateway.workflow.chasing import chase, day, review, when


def _school(school: dict[str, Any] | None) -> str:
    if not school:
        return ""
    laestab = f" ({school['laestab']})" if school.get("laestab") else ""
    return f" at {school['name']}{laestab}"


def enquiry_lines(view: dict[str, Any], manual: bool) -> list[str]:
    """The lines under an Enquiry in ``cme-gateway status``: when it went, due or overdue,
    chasers and escalation, then each child with their outcome. Times are local (England)."""
    due = f"reply due {day(view['due_on'])}{' (estimated)' if view['due_estimated'] else ''}"
    head = [f"sent {when(view['sent_at'])}"]
    if view["overdue"]:
        n = view["overdue_school_days"]
        about = "about " if view["overdue_estimated"] else ""
        if n:
            head.append(f"OVERDUE by {about}{n} school day{'s' if n != 1 else ''} ({due})")
        else:  # due before a holiday: overdue, though no school day has passed since
            head.append(f"OVERDUE (no school day since it was due; {due})")
    elif view["awaiting"]:
        head.append(due)
    else:
        head.append("every child answered")
    if view["chasers"]:
        head.append(f"chasers sent: {view['chasers']} (last {when(view['last_chased_at'])})")
    if view["escalated"]:
        head.append(f"ESCALATED to a manager {when(view['escalated_at'])}")
    lines = ["    " + "; ".join(head)]
    for c in view["children"]:
        name = f"{c['surname']}, {c['forename']}"
        if c["middle_names"]:
            name += f" {c['middle_names']}"
        facts = [f"born {c['dob']}"] if c["dob"] else []
        if c["school_last_attended"]:
            facts.append(f"last school {c['school_last_attended']}")
        lines.append(f"    child {c['child_ref']}: {name}"
                     + (f" ({'; '.join(facts)})" if facts else ""))
        if c["outcome"]:
            by = c["replied_by"] + (f" ({c['replied_officer']})" if c["replied_officer"]
                                    else "")
            was = f" (was {c['previous_outcome']})" if c["previous_outcome"] else ""
            lines.append(f"        {c['outcome']}{_school(c['school'])}{was}, answered by "
                         f"{by} {when(c['replied_at'])}")
        else:
            lines.append(f"        awaiting an answer, waiting since {when(view['sent_at'])}")
        if c["needs_review"]:
            lines.append(f"        NEEDS REVIEW: a later reply says {c['pending_outcome']}"
                         f"{_school(c['pending_school'])} ({when(c['pending_at'])}); "
                         f"{c['outcome']} is kept until you decide: cme-gateway outcome "
                         f"accept|reject {view['message_id']} {c['child_ref']} --reason ...")
    if manual and view["overdue"] and not view["escalated"]:
        lines.append(f"    chase it: cme-gateway chase {view['message_id']}")
    return lines


def cmd_chase(args: argparse.Namespace) -> int:
    s = gateway_settings(args)

    async def go() -> tuple[str, str]:
        gw = await Gateway.open(s)
        try:
            row = await chase(gw, args.message_id, actor="cli", comments=args.comments)
            sent = await gw.store.chasing.get(args.message_id)
            assert sent is not None
            return row.message_id, f"chaser {sent.chasers} to {row.recipient}"
        finally:
            await gw.close()

    chaser_id, what = asyncio.run(go())
    print(f"queued {what}: {chaser_id} (enquiry {args.message_id})")
    return 0


def cmd_outcome(args: argparse.Namespace) -> int:
    s = gateway_settings(args)
    accept = args.decision == "accept"

    async def go() -> dict[str, Any]:
        gw = await Gateway.open(s)
        try:
            child = await review(gw, args.message_id, args.child_ref, accept, actor="cli",
                                 reason=args.reason)
            return child.to_json()
        finally:
            await gw.close()

    child = asyncio.run(go())
    if args.json:
        print(json.dumps(child, indent=2))
        return 0
    verb = "now" if accept else "stays"
    print(f"{args.decision}ed: child {child['child_ref']} of enquiry {args.message_id} {verb} "
          f"{child['outcome']}{_school(child['school'])}")
    return 0


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("chase", help="send a Chaser for an enquiry whose reply is overdue")
    sp.add_argument("message_id", help="the enquiry's message id")
    sp.add_argument("--comments", help="your own words (default: a standard reminder)")
    sp.set_defaults(func=cmd_chase)

    sp = sub.add_parser("outcome", help="accept or reject a later not-known reply for a "
                        "child already answered known (status shows NEEDS REVIEW)")
    sp.add_argument("decision", choices=["accept", "reject"])
    sp.add_argument("message_id", help="the enquiry's message id")
    sp.add_argument("child_ref", help="the child's reference in the enquiry")
    sp.add_argument("--reason", required=True, help="why (audited with the decision)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_outcome)
