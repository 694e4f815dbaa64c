"""``cme-gateway ctf ...``, ``lpd ...`` and ``cases``: the CTF commands."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from gateway.core.errors import GatewayError


def cmd_check(args: argparse.Namespace) -> int:
    """Check a CTF as a school's system wrote it. Needs no config: defaults apply."""
    from gateway.core.config import Settings
    from gateway.ctf.reader import read_ctf

    s = Settings(party="S2S")
    versions = args.versions.split(",") if args.versions else s.accepted_ctf_versions
    path = Path(args.file)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise GatewayError("bad-request", f"cannot read {args.file}: {exc.strerror}") from None
    if size > s.max_ctf_bytes:
        raise GatewayError("ctf-too-large", f"{size} bytes; limit {s.max_ctf_bytes}")
    info = read_ctf(path, versions=versions, max_pupils=s.max_ctf_pupils,
                    max_elements=s.max_ctf_pupil_elements)
    print(f"pupils={len(info.pupils)} destination={info.destination} version={info.version}")
    for p in info.flagged:
        for flag in p.flags:
            code, _, text = flag.partition(": ")
            print(f"WARNING pupil {p.index} {code}: {text}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from gateway.testing.ctf import main

    argv = [args.out, "--pupils", str(args.pupils), "--source", args.source, "--dest",
            args.dest, "--version", args.version, "--seed", str(args.seed)]
    return main(argv)


def _gateway(args: argparse.Namespace) -> Any:
    from gateway.cli.main import _settings
    from gateway.exchange.gateway import Gateway

    return Gateway.open(_settings(args))


def cmd_post(args: argparse.Namespace) -> int:
    """Sign and POST a CTF now (a school's MIS, or an LA by hand); print the receipt id."""
    import aiohttp

    from gateway.core.files import file_digest
    from gateway.exchange.client import PartnerRejected, Retry, post
    from gateway.hub.routing import transfer_row
    from gateway.messages import model as m

    path = Path(args.file).resolve()

    async def go() -> str:
        gw = await _gateway(args)
        try:
            digest, size = await asyncio.to_thread(file_digest, path)
            row = transfer_row(gw, args.to, m.Purpose(args.purpose), path, digest, size)
            async with aiohttp.ClientSession() as session:
                _, answer, _ = await post(gw, session, row)
            return f"delivered transfer {row.message_id} (receipt {answer.header.message_id})"
        except PartnerRejected as exc:
            print(f"REJECTED {exc.code}: {exc.text}")
            raise SystemExit(1) from None
        except Retry as exc:
            raise GatewayError("store-unavailable", f"not delivered: {exc}") from None
        finally:
            await gw.close()

    print(asyncio.run(go()))
    return 0


def cmd_lpd_search(args: argparse.Namespace) -> int:
    from gateway.hub import relay

    async def go() -> list[dict[str, Any]]:
        gw = await _gateway(args)
        try:
            return await relay.search(
                gw, args.reason, upn=args.upn, surname=args.surname, forename=args.forename,
                dob=dt.date.fromisoformat(args.dob) if args.dob else None, sex=args.sex,
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


def cmd_lpd_claim(args: argparse.Namespace) -> int:
    from gateway.hub import relay

    async def go() -> str:
        gw = await _gateway(args)
        try:
            return await relay.claim(gw, args.transfer_id, args.for_school, args.reason,
                                     actor="cli")
        finally:
            await gw.close()

    try:
        claim_id = asyncio.run(go())
    except relay.HubRefused as exc:
        print(f"REJECTED {exc.code}: {exc.text}", file=sys.stderr)
        return 1
    print(f"claimed {args.transfer_id} for {args.for_school} (claim {claim_id}); the hub is "
          f"sending the CTF")
    return 0


def cmd_cases(args: argparse.Namespace) -> int:
    async def go() -> list[dict[str, Any]]:
        gw = await _gateway(args)
        try:
            rows = [dataclasses.asdict(r) for r in await gw.store.cases.recent(args.limit)]
            await gw.store.audit.add("cli", "read-cases", None, f"{len(rows)} cases")
            return rows
        finally:
            await gw.close()

    rows = asyncio.run(go())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        opened = dt.datetime.fromtimestamp(r["opened_at"], dt.UTC).strftime("%Y-%m-%d")
        print(f"{r['case_id']}  {opened}  cat {r['category']}  {r['status']:6} "
              f"{r['surname']}, {r['forename']}  {r['source']}")
    if not rows:
        print("(no cases)")
    return 0


def add_cli(sub: Any) -> None:
    ctf = sub.add_parser("ctf", help="Common Transfer Files").add_subparsers(dest="ctf_cmd",
                                                                               required=True)
    sp = ctf.add_parser("check", help="check a CTF file before posting it")
    sp.add_argument("file")
    sp.add_argument("--versions", help="accepted versions, comma-separated (default 25.0,24.0)")
    sp.set_defaults(func=cmd_check)
    sp = ctf.add_parser("post", help="sign and send a CTF now")
    sp.add_argument("file")
    sp.add_argument("--to", default="S2S", help="the hub (S2S, default) or your LA")
    sp.add_argument("--purpose", default="deliver", choices=["deliver", "lpd"])
    sp.set_defaults(func=cmd_post)
    sp = ctf.add_parser("generate", help="write a synthetic CTF (tests, benchmarks)")
    sp.add_argument("out")
    sp.add_argument("--pupils", type=int, default=1)
    sp.add_argument("--source", default="355/2001")
    sp.add_argument("--dest", default="352/4001")
    sp.add_argument("--version", default="25.0")
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=cmd_generate)

    lpd = sub.add_parser("lpd", help="the Lost Pupils Database at the hub").add_subparsers(
        dest="lpd_cmd", required=True)
    sp = lpd.add_parser("search", help="search by UPN, or surname with forename/DOB")
    for name in ("upn", "surname", "forename", "dob", "sex"):
        sp.add_argument(f"--{name}")
    sp.add_argument("--reason", required=True, help="why (audited at the hub)")
    sp.set_defaults(func=cmd_lpd_search)
    sp = lpd.add_parser("claim", help="claim a lost CTF for a school in your area")
    sp.add_argument("transfer_id")
    sp.add_argument("--for-school", required=True)
    sp.add_argument("--reason", required=True)
    sp.set_defaults(func=cmd_lpd_claim)

    sp = sub.add_parser("cases", help="CME cases opened by this gateway")
    sp.add_argument("--limit", type=int, default=50)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_cases)
