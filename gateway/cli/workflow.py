"""The officer's commands beside cases: ``answer`` (the proposed reply to a received enquiry,
approved or edited), ``monitoring`` (the watched children: list, approve, dismiss, end),
``reviews``, ``report`` and ``notifications``. Run on the LA's own server by its officers;
what shows a child's details is audited."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from gateway.cli import checks
from gateway.cli.cases import ACTOR, local, on_gateway, print_json
from gateway.cli.messages import parse_outcome
from gateway.cli.settings import optional_settings
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import grounds
from gateway.messages import model as m
from gateway.store.watches import WatchState
from gateway.workflow import answering, monitoring, reports
from gateway.workflow import cases as wf

# ---- answering enquiries -------------------------------------------------------------------

def cmd_answer(args: argparse.Namespace) -> int:
    if args.approve and args.outcome:
        raise GatewayError("bad-request", "give --approve (the proposal as it is) or "
                           "--outcome (your edits), not both")

    async def work(gw: Gateway) -> tuple[list[answering.Proposal], str | None]:
        proposals = await answering.propose(gw, args.message_id)
        await gw.store.audit.add(ACTOR, "read-proposal", args.message_id)
        if not (args.approve or args.outcome):
            return proposals, None
        if args.approve:
            chosen = await answering.approved(gw, args.message_id)
        else:  # the officer's outcomes; with them, the proposal for the others not answered
            edits = {o.child_ref: o for o in (parse_outcome(t) for t in args.outcome)}
            unknown = sorted(set(edits) - {p.child_ref for p in proposals})
            if unknown:
                raise GatewayError("bad-request", f"no child {', '.join(unknown)} in the "
                                   f"enquiry")
            chosen = [edits.get(p.child_ref) or m.ChildOutcome(p.child_ref, p.outcome,
                                                               p.school)
                      for p in proposals
                      if p.child_ref in edits or (p.answered is None and not args.only_edited)]
        row = await answering.answer(gw, args.message_id, chosen, args.comments, ACTOR,
                                     partial=args.partial)
        return proposals, row.message_id

    proposals, reply_id = on_gateway(args, work)
    if args.json:
        print_json({"proposals": [p.to_json() for p in proposals], "reply": reply_id})
        return 0
    for p in proposals:
        school = f" at {p.school.name}" if p.school else ""
        done = f"  (answered {p.answered})" if p.answered else ""
        print(f"child {p.child_ref} {p.name}: propose {p.outcome.value}{school}  [{p.band}] "
              f"{p.note}{done}")
        for field, why in sorted(p.explanation.items()):
            print(f"    {field}: {why}")
    if reply_id:
        print(f"queued reply {reply_id}")
    else:
        print("(nothing sent: --approve sends the proposal, --outcome REF=OUTCOME edits it)")
    return 0


# ---- monitoring ----------------------------------------------------------------------------

def cmd_monitoring_list(args: argparse.Namespace) -> int:
    states = tuple(WatchState(s) for s in args.state or ())

    async def work(gw: Gateway) -> list[dict[str, Any]]:
        rows = await gw.store.watches.listing(states, args.limit)
        if rows:  # the children's names are shown: audited
            await gw.store.audit.add(ACTOR, "read-watches", None, f"{len(rows)} watched")
        return [{**w.summary(), "found": w.found(), "child": _who(w.query())} for w in rows]

    rows = on_gateway(args, work)
    if args.json:
        print_json(rows)
        return 0
    for w in rows:
        est = " (estimated)" if w["until_estimated"] else ""
        print(f"{w['watch_id']}  {w['state'].upper()}  {w['child']}")
        print(f"    child {w['child_ref']} of enquiry {w['enquiry_id']} from {w['enquirer']}; "
              f"watched until {w['watched_until']}{est}")
        if w["state"] in ("found", "possible"):
            f = w["found"]
            print(f"    {w['found_band']} via {w['found_source']} {f.get('arrival', '')}: "
                  f"proposed {f.get('outcome', '')}"
                  + (f" at {f['school']['name']}" if f.get("school") else ""))
    if not rows:
        print("(no watched children)")
    return 0


def _who(query: dict[str, Any]) -> str:
    """The watched child as an officer reads it: "SURNAME, Forename (born 2016-05-05)"."""
    first = (query.get("queries") or [{}])[0]
    born = f" (born {first['dob']})" if first.get("dob") else ""
    return f"{first.get('surname', '')}, {first.get('forename', '')}{born}"


def cmd_monitoring_approve(args: argparse.Namespace) -> int:
    edited = parse_outcome(f"x={args.outcome}") if args.outcome else None
    reply_id = on_gateway(args, lambda gw: monitoring.report(
        gw, args.watch_id, ACTOR, edited.outcome if edited else None,
        edited.school if edited else None, args.comments))
    print(f"queued updated reply {reply_id}")
    return 0


def cmd_monitoring_dismiss(args: argparse.Namespace) -> int:
    on_gateway(args, lambda gw: monitoring.dismiss(gw, args.watch_id, args.reason, ACTOR))
    print(f"dismissed: watch {args.watch_id} is watched again")
    return 0


def cmd_monitoring_end(args: argparse.Namespace) -> int:
    async def work(gw: Gateway) -> str:
        w = await gw.store.watches.get(args.watch_id)
        if w is None:
            raise GatewayError("not-found", f"no watched child {args.watch_id}")
        if w.state != WatchState.WATCHING:
            raise GatewayError("watch-state", f"watch {args.watch_id} is {w.state}")
        return await monitoring.end(gw, w, ACTOR, f"Not known: monitoring ended early "
                                                  f"({args.reason.strip()[:200]}).")
    if not args.reason.strip():
        raise GatewayError("bad-request", "say why monitoring ends early (--reason)")
    print(f"queued final reply {on_gateway(args, work)}")
    return 0


# ---- reviews, reports, notifications ------------------------------------------------------

def cmd_reviews(args: argparse.Namespace) -> int:
    rows = on_gateway(args, lambda gw: wf.reviews_due(gw, args.within))
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        flag = "URGENT " if r["urgent"] else ""
        late = " OVERDUE" if r["overdue"] else ""
        print(f"{r['due']}{late:8} {flag}{r['kind']:32} case {r['case_id'] or '-'}  "
              f"({r['state']})")
    if not rows:
        print(f"(nothing due in the next {args.within} days)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    census = checks.date(args.census, "--census") if args.census else None
    if census and not args.termly:
        raise GatewayError("bad-request", "--census is the termly return's: give --termly TERM")

    async def work(gw: Gateway) -> dict[str, Any]:
        if args.termly:
            return await reports.termly_return(gw, args.termly, census)
        return await reports.counts(gw)

    data = on_gateway(args, work)
    if args.csv:
        rows = data["rows"] if args.termly else reports.count_rows(data)
        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["none"])
        w.writeheader()
        w.writerows(reports.csv_safe(rows))
        return 0
    if args.json or args.termly:
        print_json(data)
        return 0
    for name, counts in data.items():
        print(f"{name}:")
        for k, n in counts.items():
            print(f"  {k:28} {n}")
    return 0


def cmd_notifications(args: argparse.Namespace) -> int:
    rows = on_gateway(args, lambda gw: gw.store.notifications.recent(args.limit))
    for n in rows:
        sent = f"e-mailed {local(n.sent_at)}" if n.sent_at else (
            f"not e-mailed ({n.last_error})" if n.last_error else
            ("queue only" if not n.recipients else "e-mail pending"))
        print(f"{local(n.at)}  {'URGENT ' if n.urgent else ''}{n.kind:14} {n.subject}  "
              f"[{sent}]")
    if not rows:
        print("(no notifications)")
    return 0


def cmd_school_returns(args: argparse.Namespace) -> int:
    school = checks.laestab(args.school, "--school") if args.school else None
    rows = on_gateway(args, lambda gw: gw.store.school_notices.recent(args.late, school,
                                                                      args.limit))
    for r in rows:
        late = f"LATE by {r.late_school_days} school days" if r.late_school_days else (
            "in time" if r.due_on else "no deadline")
        print(f"{local(r.received_at)}  school {r.school}  {r.kind:9} about {r.event_on}  "
              f"{late}" + (f"  case {r.case_id}" if r.case_id else "")
              + f"  (message {r.message_id})")
        if r.ground():
            print(f"    ground: {grounds.label(r.ground() or '')}")
    if not rows:
        print("(no school returns)")
    return 0


def cmd_deletion_grounds(args: argparse.Namespace) -> int:
    """The closed list of deletion grounds and their letters of SI 2024/208 reg. 9(1).
    Needs no gateway, but a config named with --config must be there and readable, as for
    every command."""
    optional_settings(args)
    if args.json:
        print(json.dumps([g.as_json() for g in grounds.GROUNDS.values()], indent=2))
        return 0
    for g in grounds.GROUNDS.values():
        print(f"{g.reference:15} {g.code.value:35} {g.words}"
              + (f" [{g.unchecked_note}]" if g.unchecked_note else "")
              + (f" [added in school-notice schema {g.added_in}: an LA gateway on 1.0 refuses "
                 "it]" if g.added_in != "1.0" else "")
              + ("  -> opens a case at once (joint enquiries)" if g.joint_enquiries else ""))
    print("Sources: " + "; ".join(grounds.SOURCES))
    return 0


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("answer", help="the proposed reply to a received enquiry; approve or "
                                       "edit it")
    sp.add_argument("message_id")
    sp.add_argument("--approve", action="store_true", help="send the proposal as it is")
    sp.add_argument("--outcome", action="append",
                    help="REF=OUTCOME[@LAESTAB:School name]: your answer for one child")
    sp.add_argument("--only-edited", action="store_true",
                    help="send only the children given with --outcome (with --partial)")
    sp.add_argument("--partial", action="store_true",
                    help="confirm a reply that leaves children out")
    sp.add_argument("--comments")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_answer)

    mon = sub.add_parser("monitoring", help="children watched as not known but monitoring")
    ms = mon.add_subparsers(dest="monitoring_command", required=True, metavar="COMMAND")
    sp = ms.add_parser("list", help="every watched child, soonest end first")
    sp.add_argument("--state", action="append", choices=[s.value for s in WatchState])
    sp.add_argument("--limit", type=checks.limit, default=500)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_monitoring_list)
    sp = ms.add_parser("approve", help="send the updated reply for a found child")
    sp.add_argument("watch_id")
    sp.add_argument("--outcome", choices=["known-on-roll", "known-not-on-roll"])
    sp.add_argument("--comments")
    sp.set_defaults(func=cmd_monitoring_approve)
    sp = ms.add_parser("dismiss", help="not the child: watch again, never propose it again")
    sp.add_argument("watch_id")
    sp.add_argument("--reason", required=True)
    sp.set_defaults(func=cmd_monitoring_dismiss)
    sp = ms.add_parser("end", help="end monitoring early: the final reply goes out")
    sp.add_argument("watch_id")
    sp.add_argument("--reason", required=True)
    sp.set_defaults(func=cmd_monitoring_end)

    sp = sub.add_parser("reviews", help="reviews due: half-termly, end of monitoring")
    sp.add_argument("--within", type=checks.whole_number(0, 366), default=14,
                    help="days ahead (default 14)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_reviews)

    sp = sub.add_parser("report", help="counts for managers; --termly the termly CME return")
    sp.add_argument("--termly", metavar="TERM",
                    help="a term of the school calendar, e.g. 'autumn 2026'")
    sp.add_argument("--census", help="the census date of the termly return (default: the "
                                     "term's last school day), YYYY-MM-DD")
    sp.add_argument("--csv", action="store_true")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("school-returns", help="schools' returns: new pupils, deletions, "
                                                "absence; late ones flagged")
    sp.add_argument("--late", action="store_true", help="late returns only")
    sp.add_argument("--school", help="one school's LAESTAB")
    sp.add_argument("--limit", type=checks.limit, default=100)
    sp.set_defaults(func=cmd_school_returns)

    sp = sub.add_parser("deletion-grounds", help="the grounds a school's deletion return may "
                                                  "give, with their letters of SI 2024/208 "
                                                  "reg. 9(1)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_deletion_grounds)

    sp = sub.add_parser("notifications", help="safeguarding escalations and other alerts")
    sp.add_argument("--limit", type=checks.limit, default=50)
    sp.set_defaults(func=cmd_notifications)
