"""``cme-gateway cases``: open, list, show, move, assign, note, action, review and flag the CME
cases (the other officer's commands are in ``workflow.py``).

These run on the LA's own server by its officers, so they show children's names; every
command that shows a child's details writes an audit entry. Times are shown in local time
(Europe/London).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from gateway.cli import checks
from gateway.cli.settings import gateway_settings
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.store.cases import NEXT, STATES, CaseFilter, CaseState, check_state
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


def print_json(data: Any) -> None:
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
        print_json(rows)
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
        print_json(c)
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
                     "upn", "nhs_number", "address", "postcode", "telephone", "gp_details",
                     "referrer",
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
    for name in ("year-group", "gender", "ethnicity", "sen-stage", "upn", "nhs-number",
                 "address",
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
