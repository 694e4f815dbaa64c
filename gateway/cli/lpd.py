"""``cme-gateway lpd search|claim``: the Lost Pupils Database at the hub, from an LA."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gateway.cli import checks
from gateway.cli.settings import gateway_settings
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway

HUB = "S2S"


def cmd_search(args: argparse.Namespace) -> int:
    # The relay speaks HTTP; aiohttp's client takes a quarter of a second to import.
    from gateway.hub import relay

    reason = checks.reason(args.reason)
    dob = checks.date(args.dob, "--dob") if args.dob else None
    if not args.upn and not (args.surname and (args.forename or dob)):
        raise GatewayError("lpd-search-too-vague", "give --upn, or --surname with --forename "
                           "or --dob")
    s = gateway_settings(args)
    s.endpoint(HUB)  # unknown-partner before anything is signed

    async def go() -> list[dict[str, Any]]:
        gw = await Gateway.open(s)
        try:
            return await relay.search(gw, reason, upn=args.upn, surname=args.surname,
                                      forename=args.forename, dob=dob, sex=args.sex,
                                      actor="cli")
        finally:
            await gw.close()

    try:
        found = asyncio.run(go())
    except relay.HubRefused as exc:
        print(f"REJECTED {exc.code}: {exc.text}", file=sys.stderr)
        return 1
    for c in found:
        p, src = c["pupil"], c["source_school"]
        print(f"{c['transfer_id']}  {c['band']:8} score={c['score']:7.2f}  {c['state']:8} "
              f"{c['kind']:13} from {src['lea']}{src['estab']}  {p['surname']}, {p['forename']} "
              f"{p['dob']}  ({c['reason'][:120]})")
    if not found:
        print("no candidates")
    return 0


def cmd_claim(args: argparse.Namespace) -> int:
    from gateway.hub import relay  # as in cmd_search

    school = checks.laestab(args.for_school, "--for-school")
    reason = checks.reason(args.reason)
    if not args.transfer_id.strip():
        raise GatewayError("bad-request", "give the transfer id from 'cme-gateway lpd search'")
    s = gateway_settings(args)
    s.endpoint(HUB)

    async def go() -> str:
        gw = await Gateway.open(s)
        try:
            return await relay.claim(gw, args.transfer_id, school, reason, actor="cli")
        finally:
            await gw.close()

    try:
        claim_id = asyncio.run(go())
    except relay.HubRefused as exc:
        print(f"REJECTED {exc.code}: {exc.text}", file=sys.stderr)
        return 1
    print(f"claimed {args.transfer_id} for {school} (claim {claim_id}); the hub is "
          f"sending the CTF")
    return 0


def add_cli(sub: Any) -> None:
    lpd = sub.add_parser("lpd", help="the Lost Pupils Database at the hub").add_subparsers(
        dest="lpd_cmd", required=True)
    sp = lpd.add_parser("search", help="search by UPN, or surname with forename/DOB")
    for name in ("upn", "surname", "forename", "sex"):
        sp.add_argument(f"--{name}")
    sp.add_argument("--dob", help="date of birth, YYYY-MM-DD")
    sp.add_argument("--reason", required=True, help="why (audited at the hub)")
    sp.set_defaults(func=cmd_search)
    sp = lpd.add_parser("claim", help="claim a lost CTF for a school in your area")
    sp.add_argument("transfer_id")
    sp.add_argument("--for-school", required=True, help="LAESTAB (3524001 or 352/4001)")
    sp.add_argument("--reason", required=True)
    sp.set_defaults(func=cmd_claim)
