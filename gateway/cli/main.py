"""The ``cme-gateway`` command line.

Rejections print one line, ``REJECTED <code>: <sentence>``, and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.core.config import PARTY_RE, Settings, load_settings, settings_docs
from gateway.core.errors import GatewayError
from gateway.crypto import keys as k

log = logging.getLogger(__name__)
DEFAULT_CONFIG = "gateway.toml"


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("CME_GATEWAY_CONFIG") or DEFAULT_CONFIG)


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    path = _config_path(args)
    if not path.exists():
        raise GatewayError("config-invalid",
                           f"no config file {path}; run 'cme-gateway init --party <id>' first")
    return load_settings(path, **overrides)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---- init / keys / partners ---------------------------------------------------------------

CONFIG_TEMPLATE = """# CME Gateway configuration. Every setting is documented in README.md
# ("Configuration"); environment variables CME_GATEWAY_<NAME> override this file.
party = "{party}"
role = "{role}"
database = "gateway.db"
listen_host = "127.0.0.1"
listen_port = {port}
key_file = "keys/gateway.key"
cert_file = "keys/gateway.pem"
partners_dir = "keys/partners"
inbox_dir = "inbox"
outbox_dir = "outbox"
# api_token: set CME_GATEWAY_API_TOKEN in the environment to switch the operator API on.

[endpoints]
# "352" = "http://127.0.0.1:8352/v1/messages"
{endpoints}
"""


def write_config(folder: Path, party: str, port: int, role: str = "la",
                 endpoints: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f'"{p}" = "{u}"' for p, u in (endpoints or {}).items())
    path = folder / DEFAULT_CONFIG
    path.write_text(CONFIG_TEMPLATE.format(party=party, port=port, role=role,
                                           endpoints=lines), encoding="utf-8")
    for sub in ("keys/partners", "inbox", "outbox"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return path


def make_keys(key_file: Path, cert_file: Path, party: str, kind: str = "ec",
              ca_key: Path | None = None, ca_cert: Path | None = None) -> None:
    key = k.generate_key(kind)
    if ca_key and ca_cert:
        cert = k.make_certificate(party, key, issuer_key=k.load_private_key(ca_key),
                                  issuer_cert=k.load_certificate(ca_cert))
    else:
        cert = k.make_certificate(party, key)
    k.write_private(key_file, k.key_pem(key))
    k.write_public(cert_file, k.cert_pem(cert))


def cmd_init(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    path = folder / DEFAULT_CONFIG
    if path.exists() and not args.force:
        raise GatewayError("config-invalid", f"{path} exists; use --force to overwrite it")
    write_config(folder, args.party, args.port, args.role)
    s = load_settings(path)
    if not s.path(s.key_file).exists():
        make_keys(s.path(s.key_file), s.path(s.cert_file), s.party, args.key_type)
    print(f"initialised party {s.party} in {folder.resolve()}")
    print(f"  config:      {path}")
    print(f"  certificate: {s.path(s.cert_file)}  (give this to your partners)")
    print("  next: cme-gateway partners add <party> <cert.pem>; add [endpoints]; "
          "cme-gateway serve")
    return 0


def cmd_keys_init(args: argparse.Namespace) -> int:
    path = _config_path(args)
    if path.exists():
        s = load_settings(path)
        key_file, cert_file = s.path(s.key_file), s.path(s.cert_file)
        party = args.party or s.party
    else:
        key_file, cert_file = Path("keys/gateway.key"), Path("keys/gateway.pem")
        party = args.party
    if not party or not PARTY_RE.match(party):
        raise GatewayError("config-invalid", "--party must be an LA code, LAESTAB or S2S")
    if key_file.exists() and not args.force:
        raise GatewayError("config-invalid", f"{key_file} exists; use --force to replace it")
    make_keys(key_file, cert_file, party, args.type,
              Path(args.ca_key) if args.ca_key else None,
              Path(args.ca_cert) if args.ca_cert else None)
    print(f"key {key_file} and certificate {cert_file} made for party {party}")
    return 0


def cmd_keys_ca(args: argparse.Namespace) -> int:
    key = k.generate_key(args.type)
    cert = k.make_certificate(args.name, key, is_ca=True, days=args.days)
    out = Path(args.out)
    k.write_private(out / "ca.key", k.key_pem(key))
    k.write_public(out / "ca.pem", k.cert_pem(cert))
    print(f"CA made: {out / 'ca.pem'} (key {out / 'ca.key'}); set ca_file to trust it")
    return 0


def cmd_partners_add(args: argparse.Namespace) -> int:
    if not PARTY_RE.match(args.party):
        raise GatewayError("config-invalid", f"{args.party!r} is not an LA code, LAESTAB or S2S")
    try:
        cert = k.load_certificate(Path(args.cert))
    except (OSError, ValueError) as exc:
        raise GatewayError("config-invalid", f"{args.cert}: not a PEM certificate ({exc})") \
            from None
    path = _config_path(args)
    partners = load_settings(path).path(Path(load_settings(path).partners_dir)) \
        if path.exists() else Path("keys/partners")
    named = k.party_of(cert)
    if named not in (None, args.party):
        print(f"warning: the certificate's CN is {named}, not {args.party}", file=sys.stderr)
    k.write_public(partners / f"{args.party}.pem", k.cert_pem(cert))
    print(f"partner {args.party} added ({k.fingerprint(cert)[:16]}...) in {partners}")
    return 0


def cmd_partners_list(args: argparse.Namespace) -> int:
    s = _settings(args)
    folder = s.path(s.partners_dir)
    for pem in sorted(folder.glob("*.pem")):
        cert = k.load_certificate(pem)
        endpoint = s.endpoints.get(pem.stem, "(no endpoint)")
        print(f"{pem.stem:8} {k.fingerprint(cert)[:16]}  until "
              f"{cert.not_valid_after_utc:%Y-%m-%d}  {endpoint}")
    return 0


# ---- serve / send / status / verify / reply ---------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from gateway.web.app import create_app

    overrides: dict[str, Any] = {}
    if args.role:
        overrides["role"] = args.role
    if args.port:
        overrides["listen_port"] = args.port
    s = _settings(args, **overrides)
    if s.role == "hub" and s.party != "S2S":
        raise GatewayError("config-invalid", "the hub role runs as party S2S")
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s "
                        "%(message)s")
    workers = max(1, args.workers)
    children: list[Any] = []
    if workers > 1 and not args.worker:
        # Extra processes share the port (SO_REUSEPORT) and the store; only this one runs
        # the spool folders. Each sender leases its messages, so none is sent twice.
        import subprocess

        cmd = [sys.executable, "-m", "gateway", "--config", str(_config_path(args)), "serve",
               "--worker"] + (["--role", args.role] if args.role else []) + \
              (["--port", str(args.port)] if args.port else [])
        children = [subprocess.Popen(cmd) for _ in range(workers - 1)]
    try:
        web.run_app(create_app(s, spool=not args.worker), host=s.listen_host,
                    port=s.listen_port, reuse_port=workers > 1 or args.worker,
                    print=lambda *_: print(f"cme-gateway {s.party} ({s.role}) listening on "
                                           f"http://{s.listen_host}:{s.listen_port}"
                                           f"{' (worker)' if args.worker else ''}", flush=True),
                    access_log=None)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(15)
    return 0


def _load_message_file(path: Path, s: Settings) -> Any:
    from gateway.messages.load import Limits, load_unsigned

    return load_unsigned(path.read_bytes(), Limits.of(s))


def cmd_send(args: argparse.Namespace) -> int:
    from gateway.exchange.gateway import Gateway
    from gateway.exchange.outgoing import queue, readdress

    s = _settings(args)

    async def go() -> str:
        gw = await Gateway.open(s)
        try:
            message = readdress(gw, _load_message_file(Path(args.file), s), args.to)
            row = await queue(gw, message, validate=False)
            await gw.store.audit.add("cli", "send", row.message_id)
            return row.message_id
        finally:
            await gw.close()

    print(f"queued {_run(go())} to {args.to}")
    return 0


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def cmd_status(args: argparse.Namespace) -> int:
    from gateway.store import open_store

    s = _settings(args)

    async def go() -> list[Any]:
        store = await open_store(s.database, s.home)
        try:
            return await store.outbox.recent(state=args.state, limit=args.limit)
        finally:
            await store.close()

    rows = _run(go())
    print(f"{'message id':36}  {'to':7} {'type':8} {'state':9} {'tries':>5}  "
          f"{'updated (UTC)':19}  detail")
    for r in rows:
        detail = r.error_code or ""
        if r.outcomes:
            import json

            detail = ", ".join(f"{o['child_ref']}={o['outcome']}" for o in json.loads(r.outcomes))
        elif r.last_error and r.state in ("sending", "failed", "expired"):
            detail = f"{detail} {r.last_error}".strip()
        print(f"{r.message_id:36}  {r.recipient:7} {r.message_type:8} {r.state:9} "
              f"{r.attempts:>5}  {_when(r.updated_at):19}  {detail[:80]}")
    if not rows:
        print("(the outbox is empty)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from gateway.crypto.trust import TrustStore
    from gateway.exchange.inbound import verify_and_parse

    path = _config_path(args)
    if path.exists():
        s = load_settings(path)
        partners = Path(args.partners) if args.partners else s.path(s.partners_dir)
        ca = s.path(s.ca_file) if s.ca_file else None
    else:
        s = Settings(party="S2S")
        partners = Path(args.partners or "keys/partners")
        ca = None
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        raise GatewayError("bad-request", f"cannot read {args.file}: {exc.strerror}") from None
    message = verify_and_parse(body, TrustStore(partners, ca), s)
    h = message.header
    print(f"OK sender={h.sender} type={h.message_type.value} id={h.message_id}")
    return 0


def _parse_outcome(text: str) -> Any:
    from gateway.messages import model as m

    ref, sep, rest = text.partition("=")
    outcome, _, school = rest.partition("@")
    if not sep:
        raise GatewayError("bad-request", f"--outcome {text!r}: use REF=OUTCOME[@LAESTAB:Name]")
    try:
        oc = m.Outcome(outcome)
    except ValueError:
        raise GatewayError("bad-request", f"outcome must be one of "
                           f"{', '.join(o.value for o in m.Outcome)}") from None
    sch = None
    if school:
        laestab, _, name = school.partition(":")
        sch = m.School(name=name or laestab, laestab=laestab if laestab.isdigit() else None)
    return m.ChildOutcome(child_ref=ref, outcome=oc, school=sch)


def cmd_reply(args: argparse.Namespace) -> int:
    from gateway.exchange.gateway import Gateway
    from gateway.exchange.replies import reply

    s = _settings(args)
    outcomes = [_parse_outcome(o) for o in args.outcome]

    async def go() -> str:
        gw = await Gateway.open(s)
        try:
            row = await reply(gw, args.message_id, outcomes, args.comments)
            return row.message_id
        finally:
            await gw.close()

    print(f"queued reply {_run(go())}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(settings_docs())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.cli.demo import run_demo

    return run_demo(Path(args.dir), exit_after=args.exit_after, base_port=args.port)


# ---- wiring -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cme-gateway", description="CME messaging gateway")
    p.add_argument("--config", help="config file (default ./gateway.toml or $CME_GATEWAY_CONFIG)")
    p.add_argument("--version", action="version", version=f"cme-gateway {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("init", help="create a config, folders and keys for a party")
    sp.add_argument("--party", required=True)
    sp.add_argument("--dir", default=".")
    sp.add_argument("--port", type=int, default=8000)
    sp.add_argument("--role", choices=["la", "hub"], default="la")
    sp.add_argument("--key-type", choices=["ec", "rsa"], default="ec")
    sp.add_argument("--force", action="store_true")
    sp.set_defaults(func=cmd_init)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys_cmd",
                                                                     required=True)
    sp = keys.add_parser("init", help="make this gateway's key and certificate")
    sp.add_argument("--party")
    sp.add_argument("--type", choices=["ec", "rsa"], default="ec")
    sp.add_argument("--ca-key")
    sp.add_argument("--ca-cert")
    sp.add_argument("--force", action="store_true")
    sp.set_defaults(func=cmd_keys_init)
    sp = keys.add_parser("ca", help="make a CA that can issue party certificates")
    sp.add_argument("--name", default="CME Gateway CA")
    sp.add_argument("--out", default="keys/ca")
    sp.add_argument("--type", choices=["ec", "rsa"], default="ec")
    sp.add_argument("--days", type=int, default=3650)
    sp.set_defaults(func=cmd_keys_ca)

    partners = sub.add_parser("partners", help="the partner directory").add_subparsers(
        dest="partners_cmd", required=True)
    sp = partners.add_parser("add", help="trust a partner's certificate")
    sp.add_argument("party")
    sp.add_argument("cert")
    sp.set_defaults(func=cmd_partners_add)
    sp = partners.add_parser("list", help="list trusted partners")
    sp.set_defaults(func=cmd_partners_list)

    sp = sub.add_parser("serve", help="run the gateway")
    sp.add_argument("--role", choices=["la", "hub"])
    sp.add_argument("--port", type=int)
    sp.add_argument("--workers", type=int, default=1,
                    help="processes sharing the port and the store (default 1)")
    sp.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("send", help="sign and queue an unsigned message file")
    sp.add_argument("file")
    sp.add_argument("--to", required=True)
    sp.set_defaults(func=cmd_send)

    sp = sub.add_parser("status", help="the outbox, newest first")
    sp.add_argument("--state")
    sp.add_argument("--limit", type=int, default=30)
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("verify", help="check a signed message file (no replay check)")
    sp.add_argument("file")
    sp.add_argument("--partners", help="partner directory (default: from the config)")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("reply", help="reply to a received enquiry")
    sp.add_argument("message_id")
    sp.add_argument("--outcome", action="append", required=True,
                    help="REF=OUTCOME[@LAESTAB:School name], once per child")
    sp.add_argument("--comments")
    sp.set_defaults(func=cmd_reply)

    sp = sub.add_parser("config", help="print the table of every setting")
    sp.set_defaults(func=cmd_config)

    sp = sub.add_parser("demo", help="run two LA gateways (355, 352) and send an enquiry")
    sp.add_argument("--dir", default="demo")
    sp.add_argument("--port", type=int, default=8355)
    sp.add_argument("--exit-after", action="store_true",
                    help="stop once the sample exchange is done (for tests)")
    sp.set_defaults(func=cmd_demo)

    from gateway.cli.ctf import add_cli as add_ctf_cli
    from gateway.cli.matching import add_cli as add_matching_cli
    from gateway.cli.records import add_cli as add_records_cli

    add_ctf_cli(sub)
    add_matching_cli(sub)
    add_records_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GatewayError as exc:
        # verify and ctf check answer on stdout: their one line is the result
        print(exc.line(), file=sys.stdout if args.command in ("verify", "ctf") else sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


