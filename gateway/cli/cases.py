"""The CME officer's commands: ``cases`` (open, list, show, move, assign, note, action, review,
flag), ``answer`` (the proposed reply to a received enquiry, approved or edited),
``monitoring`` (the watched children: list, approve, dismiss, end), ``reviews``, ``report``
and ``notifications``.

These run on the LA's own server by its officers, so they show children's names; every
command that shows a child's details writes an audit entry. Times are shown in local time
(Europe/London).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from gateway.cli import checks
from gateway.cli.messages import parse_outcome
from gateway.cli.settings import gateway_settings
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.store.cases import NEXT, STATES, CaseFilter, CaseState, check_state
from gateway.store.watches import WatchState
from gateway.workflow import answering, monitoring, reports
from gateway.workflow import cases as wf

T = TypeVar("T")
LONDON = ZoneInfo("Europe/London")
ACTOR = "cli"


def local(ts: float | None) -> str:
    """A time as officers read it: "Tue 8 Dec 2026 14:03" in UK local time."""
    if ts is None:
        return "-"
    t = dt.datetime.fromtimestamp(ts, LONDON)
    return f"{t:%a} {t.day} {t:%b %Y %H:%M}"


def on_gateway(args: argparse.Namespace, work: Callable[[Gateway], Awaitable[T]]) -> T:
    s = gateway_settings(args)

    async def go() -> T:
        gw = await Gateway.open(s)
        try:
            return await work(gw)
        finally:
            await gw.close()
    return asyncio.run(go())


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# ---- cases -----------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    states = tuple(check_state(s) for s in args.state or ())

    async def work(gw: Gateway) -> list[dict[str, Any]]:
        rows = await gw.store.cases.find(CaseFilter(
            states=states, category=args.category, urgent_only=args.urgent,
            open_only=not args.all, limit=args.limit))
        await gw.store.audit.add(ACTOR, "read-cases", None, f"{len(rows)} cases")
        return [r.to_json() for r in rows]

    rows = on_gateway(args, work)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        flag = "URGENT " if r["urgent"] else ""
        print(f"{r['case_id']}  {flag}{r['status']:20} cat {r['category']}  "
              f"{r['surname']}, {r['forename']}  opened {local(r['opened_at'])}  "
              f"{r['key_worker'] or ''}")
    if not rows:
        print("(no cases)" if args.all else "(no open cases; --all shows closed ones too)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    async def work(gw: Gateway) -> dict[str, Any]:
        case = await gw.store.cases.get(args.case_id)
        if case is None:
            raise GatewayError("not-found", f"no case {args.case_id}")
        events = await gw.store.cases.events(args.case_id)
        messages = await gw.store.cases.messages(args.case_id)
        await gw.store.audit.add(ACTOR, "read-case", None, f"case {args.case_id}")
        return {**case.to_json(), "events": [e.__dict__ for e in events],
                "messages": [{"message_id": mid, "direction": d, "at": at}
                             for mid, d, at in messages],
                "next": [s.value for s in NEXT[case.state]]}

    c = on_gateway(args, work)
    if args.json:
        _print_json(c)
        return 0
    print(f"Case {c['case_id']}{'  URGENT' if c['urgent'] else ''}")
    print(f"  child:      {c['surname']}, {c['forename']}  DOB {c['dob'] or '-'}  "
          f"UPN {c['upn'] or '-'}  year {c['year_group'] or '-'}")
    print(f"  category:   {c['category']}  ({c['reason']})")
    print(f"  state:      {c['status']}  (next: {', '.join(c['next']) or 'none'})")
    print(f"  key worker: {c['key_worker'] or '-'}")
    print(f"  opened:     {local(c['opened_at'])}  from {c['source']}")
    if c["monitor_until"]:
        print(f"  monitored until {c['monitor_until']}")
    for k, v in c["details"].items():
        print(f"  {k.replace('_', ' ')}: {v}")
    print("Timeline:")
    for e in c["events"]:
        move = f"{e['from_state'] or ''} -> {e['to_state']}" if e["to_state"] else ""
        over = " OVERRIDE" if e["override"] else ""
        due = f" due {e['due_on']}" if e["due_on"] else ""
        print(f"  {local(e['at'])}  {e['actor']:14} {e['kind']:8} {move}{over}{due}  "
              f"{e['detail'] or ''}")
    for msg in c["messages"]:
        print(f"  message {msg['direction']:3} {msg['message_id']}  {local(msg['at'])}")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    form = {k: v for k, v in vars(args).items()
            if k in ("surname", "forename", "year_group", "gender", "ethnicity", "sen_stage",
                     "upn", "address", "postcode", "telephone", "gp_details", "referrer",
                     "referrer_position", "referrer_telephone", "referrer_organisation",
                     "reason", "last_school", "action_plan", "other_details") and v}
    form["category"] = args.category
    if args.dob:
        form["dob"] = checks.date(args.dob, "--dob").isoformat()
    if args.date_last_on_roll:
        form["date_last_on_roll"] = checks.date(args.date_last_on_roll,
                                                "--date-last-on-roll").isoformat()
    if args.looked_after:
        form["looked_after"] = True
    if args.cp:
        form["child_protection_plan"] = True

    case_id = on_gateway(args, lambda gw: wf.open_referral(gw, form, ACTOR))
    print(f"opened case {case_id}")
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    to = check_state(args.state)
    row = on_gateway(args, lambda gw: wf.move(gw, args.case_id, to, ACTOR, args.why,
                                              args.override))
    print(f"case {row.case_id} is now {row.status}" +
          (f", monitored until {row.monitor_until}" if row.monitor_until and
           row.state in (CaseState.PLACED, CaseState.MONITORED) else ""))
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    row = on_gateway(args, lambda gw: wf.assign(gw, args.case_id, args.key_worker, ACTOR))
    print(f"case {row.case_id}: key worker {row.key_worker}, {row.status}")
    return 0


def cmd_event(kind: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        due = checks.date(args.due, "--due") if getattr(args, "due", None) else None
        on_gateway(args, lambda gw: wf.add_event(gw, args.case_id, kind, args.text, ACTOR,
                                                 due))
        print(f"{kind} added to case {args.case_id}")
        return 0
    return run


def cmd_flag(args: argparse.Namespace) -> int:
    why = ", ".join(w for w, on in (("child-protection plan", args.cp),
                                    ("looked after", args.looked_after)) if on)
    if not why:
        raise GatewayError("bad-request", "say what the flag is: --cp or --looked-after")
    done = on_gateway(args, lambda gw: wf.flag(gw, args.case_id, why, ACTOR))
    print(f"case {args.case_id} escalated: urgent, officers and managers notified" if done
          else f"case {args.case_id} was already urgent")
    return 0


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
        edits = {o.child_ref: o for o in (parse_outcome(t) for t in args.outcome or [])}
        chosen = []
        for p in proposals:
            if p.child_ref in edits:
                chosen.append(edits.pop(p.child_ref))
            elif args.approve or not args.only_edited:
                chosen.append(m.ChildOutcome(child_ref=p.child_ref,
                                                       outcome=p.outcome, school=p.school))
        if edits:
            raise GatewayError("bad-request", f"no child {', '.join(sorted(edits))} in the "
                               f"enquiry")
        row = await answering.answer(gw, args.message_id, chosen, args.comments, ACTOR,
                                     partial=args.partial)
        return proposals, row.message_id

    proposals, reply_id = on_gateway(args, work)
    if args.json:
        _print_json({"proposals": [p.to_json() for p in proposals], "reply": reply_id})
        return 0
    for p in proposals:
        school = f" at {p.school.name}" if p.school else ""
        done = f"  (answered {p.answered})" if p.answered else ""
        print(f"child {p.child_ref}: propose {p.outcome.value}{school}  [{p.band}] "
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
        return [{**w.summary(), "found": w.found()} for w in rows]

    rows = on_gateway(args, work)
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'watch id':36}  {'child':6} {'enquiry id':36}  {'from':5} {'until':10}  state")
    for w in rows:
        est = "~" if w["until_estimated"] else " "
        extra = ""
        if w["state"] in ("found", "possible"):
            extra = f"  {w['found_band']} via {w['found_source']} {w['found']['arrival']}"
        print(f"{w['watch_id']:36}  {w['child_ref'][:6]:6} {w['enquiry_id']:36}  "
              f"{w['enquirer']:5} {w['watched_until']}{est} {w['state']}{extra}")
    if not rows:
        print("(no watched children)")
    return 0


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
        _print_json(rows)
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
        w.writerows(rows)
        return 0
    if args.json or args.termly:
        _print_json(data)
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


def add_cli(sub: Any) -> None:
    cases = sub.add_parser("cases", help="CME cases: list, show, open, move, assign, notes")
    cs = cases.add_subparsers(dest="cases_command", required=True, metavar="COMMAND")

    sp = cs.add_parser("list", help="cases, urgent first, then newest")
    sp.add_argument("--state", action="append", choices=[s.value for s in CaseState])
    sp.add_argument("--category", type=checks.whole_number(1, 9))
    sp.add_argument("--urgent", action="store_true", help="urgent (safeguarding) cases only")
    sp.add_argument("--all", action="store_true", help="closed cases too")
    sp.add_argument("--limit", type=checks.limit, default=100)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_list)

    sp = cs.add_parser("show", help="one case: details, timeline, messages")
    sp.add_argument("case_id")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_show)

    sp = cs.add_parser("open", help="open a case from a referral (the CME referral form)")
    sp.add_argument("--surname", required=True)
    sp.add_argument("--forename", required=True)
    sp.add_argument("--category", type=checks.whole_number(1, 9), required=True,
                    help="1 no provision ... 7 whereabouts unknown ... 9 other")
    sp.add_argument("--referrer", required=True, help="who refers the child")
    sp.add_argument("--dob")
    for name in ("year-group", "gender", "ethnicity", "sen-stage", "upn", "address",
                 "postcode", "telephone", "gp-details", "referrer-position",
                 "referrer-telephone", "referrer-organisation", "reason", "last-school",
                 "date-last-on-roll", "action-plan", "other-details"):
        sp.add_argument(f"--{name}")
    sp.add_argument("--looked-after", action="store_true")
    sp.add_argument("--cp", action="store_true", help="on a child-protection plan")
    sp.set_defaults(func=cmd_open)

    sp = cs.add_parser("move", help=f"move a case along the flowchart ({STATES})")
    sp.add_argument("case_id")
    sp.add_argument("state", choices=[s.value for s in CaseState])
    sp.add_argument("--why", required=True, help="the reason, kept with the move")
    sp.add_argument("--override", action="store_true",
                    help="a move the flowchart does not draw (stored as an override)")
    sp.set_defaults(func=cmd_move)

    sp = cs.add_parser("assign", help="give a case its key worker")
    sp.add_argument("case_id")
    sp.add_argument("key_worker")
    sp.set_defaults(func=cmd_assign)

    for kind, text in (("note", "add a note"), ("action", "add a dated action"),
                       ("review", "record a half-termly review")):
        sp = cs.add_parser(kind, help=text)
        sp.add_argument("case_id")
        sp.add_argument("text")
        if kind == "action":
            sp.add_argument("--due", required=True, help="YYYY-MM-DD")
        sp.set_defaults(func=cmd_event(kind))

    sp = cs.add_parser("flag", help="safeguarding: escalate a case at once")
    sp.add_argument("case_id")
    sp.add_argument("--cp", action="store_true", help="on a child-protection plan")
    sp.add_argument("--looked-after", action="store_true")
    sp.set_defaults(func=cmd_flag)

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

    sp = sub.add_parser("notifications", help="safeguarding escalations and other alerts")
    sp.add_argument("--limit", type=checks.limit, default=50)
    sp.set_defaults(func=cmd_notifications)
