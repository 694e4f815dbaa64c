"""``cme-gateway ctf check|post|generate``: Common Transfer Files."""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from gateway.cli import checks
from gateway.cli.settings import gateway_settings
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.core.files import file_digest
from gateway.ctf.identifiers import destination_kind
from gateway.ctf.reader import read_ctf
from gateway.exchange.gateway import Gateway
from gateway.hub.routing import transfer_row
from gateway.messages import model as m
from gateway.testing.ctf import write_ctf

_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
_LEA_ESTAB = re.compile(r"([0-9A-Z]{3})/?([0-9A-Z]{4})")
DEST_FORMS = ("a LAESTAB (3524001 or 352/4001), the LA itself (352/LLLL), lost (XXX/XXXX) "
              "or out of the maintained sector (MMM/MMMM)")


def _versions(text: str | None, default: list[str]) -> list[str]:
    if text is None:
        return default
    versions = [v.strip() for v in text.split(",") if v.strip()]
    if not versions or not all(_VERSION.fullmatch(v) for v in versions):
        raise GatewayError("bad-request", f"--versions {text[:40]!r}: use CTF versions "
                           "separated by commas, e.g. 25.0,24.0")
    return versions


def cmd_check(args: argparse.Namespace) -> int:
    """Check a CTF as a school's system wrote it. Needs no config: the defaults apply."""
    s = Settings(party="S2S")
    versions = _versions(args.versions, s.accepted_ctf_versions)
    path = checks.readable_file(args.file, "CTF")
    size = path.stat().st_size
    if size > s.max_ctf_bytes:
        raise GatewayError("ctf-too-large", f"{size} bytes; limit {s.max_ctf_bytes}")
    info = read_ctf(path, versions=versions, max_pupils=s.max_ctf_pupils,
                    max_elements=s.max_ctf_pupil_elements,
                    max_total_elements=s.max_ctf_elements,
                    max_attributes_per_element=s.max_ctf_attributes_per_element,
                    max_attributes=s.max_ctf_attributes,
                    max_concurrent=s.max_concurrent_ctf_checks)
    print(f"pupils={len(info.pupils)} destination={info.destination} version={info.version}")
    for p in info.flagged:
        for flag in p.flags:
            code, _, text = flag.partition(": ")
            print(f"WARNING pupil {p.index} {code}: {text}")
    return 0


def destination(text: str, what: str = "--dest") -> tuple[str, str]:
    """A CTF destination as (LA code, establishment): a school, or a stand-in code."""
    found = _LEA_ESTAB.fullmatch(text.strip().upper())
    if found:
        lea, estab = found.groups()
        try:
            destination_kind(lea, estab)
            return lea, estab
        except ValueError:
            pass
    raise GatewayError("bad-party", f"{what} {text[:40]!r}: use {DEST_FORMS}")


def cmd_generate(args: argparse.Namespace) -> int:
    laestab = checks.laestab(args.source, "--source")
    dest = destination(args.dest)
    if not _VERSION.fullmatch(args.version):
        raise GatewayError("bad-request", f"--version {args.version[:20]!r}: use a CTF version "
                           "such as 25.0")
    out = checks.writable_file(args.out, "output file")
    write_ctf(out, source=(laestab[:3], laestab[3:]), dest=dest, pupils=args.pupils,
              version=args.version, seed=args.seed)
    print(f"wrote {out}")
    return 0


# Refusals that ``ctf check`` cannot explain: they are about the sending, not the file.
_NOT_IN_FILE = frozenset({"ctf-too-large", "ctf-source-mismatch",
                          "ctf-destination-unreachable"})


def cmd_post(args: argparse.Namespace) -> int:
    """Sign and POST a CTF now (a school's MIS, or an LA by hand); print the receipt id."""
    # The HTTP client takes a quarter of a second to import: only post needs it here.
    import aiohttp

    from gateway.exchange.client import PartnerRejected, Retry, post

    path = checks.readable_file(args.file, "CTF").resolve()
    to = checks.party(args.to, "--to")
    s = gateway_settings(args)
    s.transfers_endpoint(to)  # unknown-partner, or an endpoint that cannot take a CTF

    async def go() -> str:
        gw = await Gateway.open(s)
        try:
            digest, size = await asyncio.to_thread(file_digest, path)
            row = transfer_row(gw, to, m.Purpose(args.purpose), str(path), digest, size)
            async with aiohttp.ClientSession() as session:
                _, answer, _ = await post(gw, session, row)
            return f"delivered transfer {row.message_id} (receipt {answer.header.message_id})"
        except PartnerRejected as exc:
            # A partner's signed refusal gives the code and its sentence, never the detail
            # (that could echo a pupil's data): the file can be checked here for that.
            hint = (f" Run 'cme-gateway ctf check {path}' to see where in the file."
                    if exc.code.startswith(("ctf-", "xml-")) and exc.code not in _NOT_IN_FILE
                    else "")
            return f"REJECTED {exc.code}: {exc.text}{hint}"
        except Retry as exc:
            if exc.code is not None:  # the partner's own signed refusal, asking to try later
                return f"REJECTED {exc.code}: {exc}"
            raise GatewayError("partner-unreachable", f"{to}: {exc}") from None
        finally:
            await gw.close()

    answer = asyncio.run(go())
    print(answer)
    return 1 if answer.startswith("REJECTED ") else 0


def cmd_move_to_database(args: argparse.Namespace) -> int:
    """Move the CTFs this host keeps as files in ``ctf_dir`` into the PostgreSQL store, so
    that every gateway host on that database can serve them (docs/storage.md)."""
    from gateway.store.payloads import DbPayloads, move_files_into_database
    from gateway.store.store import is_postgres, open_store

    s = gateway_settings(args)
    if not is_postgres(s.database):
        raise GatewayError("config-invalid", "move-to-database is for a PostgreSQL store; "
                           "with SQLite the CTFs stay files in ctf_dir")

    async def go() -> dict[str, list[str]]:
        store = await open_store(s.database, s.home, payload_dir=s.path(s.ctf_dir))
        try:
            assert isinstance(store.payloads, DbPayloads)
            return await move_files_into_database(store.payloads, remove=not args.keep_files,
                                                  max_bytes=s.max_ctf_bytes)
        finally:
            await store.close()

    out = asyncio.run(go())
    print(f"moved={len(out['moved'])} missing={len(out['missing'])} "
          f"mismatched={len(out['mismatched'])} too-large={len(out['too-large'])}")
    notes = {"missing": "its file is not on this host: run this on the host that received it",
             "mismatched": "its file is not the bytes received (SHA-256 or size differs): "
                           "left as it is; restore it from backup",
             "too-large": "over max_ctf_bytes: raise the limit to move it"}
    for outcome, note in notes.items():
        for tid in out[outcome]:
            print(f"{outcome.upper()} transfer {tid}: {note}")
    return 0 if not (out["missing"] or out["mismatched"] or out["too-large"]) else 1


def cmd_resend(args: argparse.Namespace) -> int:
    """Resend a CTF this gateway stored and could not pass on (a forward, an LPD claim's
    delivery that failed or expired): a new Transfer over the stored payload."""
    from gateway.exchange.actions import resend_transfer

    s = gateway_settings(args)

    async def go() -> str:
        gw = await Gateway.open(s)
        try:
            row = await resend_transfer(gw, args.id.strip(), "cli")
            out = f"queued transfer {row.message_id} to {row.recipient}"
            was, _ = await gw.store.outbox.resends(row.message_id)
            old = await gw.store.outbox.get(was) if was else None
            if old is not None and old.state.value == "expired":
                # No receipt is not proof it did not arrive (a receipt lost on the way back).
                out += (f"\nnote: transfer {old.message_id} expired with no receipt, so it "
                        f"may have arrived at {row.recipient} after all: check with them; "
                        "if it had, cancel this resend in the outbox, or the school will "
                        "be offered the CTF twice.")
            return out
        finally:
            await gw.close()

    print(asyncio.run(go()))
    return 0


def cmd_undelivered(args: argparse.Namespace) -> int:
    """List the CTFs this gateway took on and could not pass on (ids only, no names)."""
    s = gateway_settings(args)

    async def go() -> list[str]:
        gw = await Gateway.open(s)
        try:
            return [f"{u.transfer_id} {u.what} to={u.recipient or '-'} source={u.source} "
                    f"since={_when(u.since)}" for u in await gw.store.transfers.undelivered()]
        finally:
            await gw.close()

    lines = asyncio.run(go())
    for line in lines:
        print(line)
    return 1 if lines else 0


def _when(t: float | None) -> str:
    import datetime as dt
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_cli(sub: Any) -> None:
    ctf = sub.add_parser("ctf", help="Common Transfer Files").add_subparsers(dest="ctf_cmd",
                                                                               required=True)
    sp = ctf.add_parser("check", help="check a CTF file before posting it")
    sp.add_argument("file")
    sp.add_argument("--versions", help="accepted versions, comma-separated (default 25.0,24.0)")
    sp.set_defaults(func=cmd_check, results_on_stdout=True)
    sp = ctf.add_parser("post", help="sign and send a CTF now")
    sp.add_argument("file")
    sp.add_argument("--to", default="S2S", help="the hub (S2S, default) or your LA")
    sp.add_argument("--purpose", default="deliver", choices=["deliver", "lpd"])
    sp.set_defaults(func=cmd_post, results_on_stdout=True)
    sp = ctf.add_parser("resend", help="send again a CTF this gateway forwarded or "
                        "delivered from the LPD that was not delivered (failed or expired)")
    sp.add_argument("id", help="the transfer id (or the outbox message id of its Transfer)")
    sp.set_defaults(func=cmd_resend, results_on_stdout=True)
    sp = ctf.add_parser("undelivered", help="list the CTFs this gateway could not pass on "
                        "(exit 1 when there are any)")
    sp.set_defaults(func=cmd_undelivered, results_on_stdout=True)
    sp = ctf.add_parser("move-to-database",
                        help="move CTFs kept as files on this host into the PostgreSQL store")
    sp.add_argument("--keep-files", action="store_true",
                    help="leave each file in ctf_dir after it is moved (default: remove it)")
    sp.set_defaults(func=cmd_move_to_database, results_on_stdout=True)
    sp = ctf.add_parser("generate", help="write a synthetic CTF (tests, benchmarks)")
    sp.add_argument("out")
    sp.add_argument("--pupils", type=checks.whole_number(1, 1_000_000), default=1)
    sp.add_argument("--source", default="355/2001",
                    help="the source school's LAESTAB (3552001 or 355/2001)")
    sp.add_argument("--dest", default="352/4001", help=DEST_FORMS)
    sp.add_argument("--version", default="25.0")
    sp.add_argument("--seed", type=checks.whole_number(0, 2**63 - 1), default=0)
    sp.set_defaults(func=cmd_generate, results_on_stdout=True)
