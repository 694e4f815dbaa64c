"""``cme-gateway init``, ``keys init|ca|rotate``, ``partners add|list|remove`` and ``config``:
setting up a gateway. ``write_config`` and ``make_keys`` are used by the demo and the tests
too."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from gateway.cli import checks
from gateway.cli.settings import DEFAULT_CONFIG, gateway_settings, optional_settings
from gateway.core.config import ENV_PREFIX, Settings, load_settings, settings_docs
from gateway.core.errors import GatewayError
from gateway.core.parties import PARTY_FORMS
from gateway.crypto import directory
from gateway.crypto import keys as k

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
FOLDERS = ("keys/partners", "inbox", "outbox")


def render_config(party: str, port: int, role: str = "la",
                  endpoints: dict[str, str] | None = None) -> str:
    lines = "\n".join(f'"{p}" = "{u}"' for p, u in (endpoints or {}).items())
    return CONFIG_TEMPLATE.format(party=party, port=port, role=role, endpoints=lines)


def write_config(folder: Path, party: str, port: int, role: str = "la",
                 endpoints: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEFAULT_CONFIG
    path.write_text(render_config(party, port, role, endpoints), encoding="utf-8")
    for sub in FOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return path


def new_keys(party: str, kind: str = "ec", ca_key: Path | None = None,
             ca_cert: Path | None = None) -> tuple[bytes, bytes]:
    """A new private key and certificate for ``party``, as PEM (nothing is written)."""
    key = k.generate_key(kind)
    if ca_key and ca_cert:
        cert = k.make_certificate(party, key, issuer_key=k.load_private_key(ca_key),
                                  issuer_cert=k.load_certificate(ca_cert))
    else:
        cert = k.make_certificate(party, key)
    return k.key_pem(key), k.cert_pem(cert)


def make_keys(key_file: Path, cert_file: Path, party: str, kind: str = "ec",
              ca_key: Path | None = None, ca_cert: Path | None = None) -> None:
    key, cert = new_keys(party, kind, ca_key, ca_cert)
    k.write_private(key_file, key)
    k.write_public(cert_file, cert)


def _certificate(path: Path, what: str) -> x509.Certificate:
    checks.readable_file(str(path), what)
    try:
        return k.load_certificate(path)
    except ValueError:
        raise GatewayError("bad-request", f"{what} {path} is not a PEM certificate") from None


def _check_ca(args: argparse.Namespace) -> tuple[Path, Path] | None:
    """The CA key and certificate to issue from (both or neither), checked."""
    if bool(args.ca_key) != bool(args.ca_cert):
        raise GatewayError("bad-request", "give both --ca-key and --ca-cert, or neither")
    if not args.ca_key:
        return None
    ca_key = checks.readable_file(args.ca_key, "--ca-key")
    cert = _certificate(Path(args.ca_cert), "--ca-cert")
    try:
        key = k.load_private_key(ca_key)
    except (ValueError, TypeError):  # TypeError: an encrypted key
        raise GatewayError("bad-request", f"--ca-key {args.ca_key} is not an unencrypted PEM "
                           "EC or RSA private key") from None
    ext = cert.extensions
    try:
        is_ca = ext.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise GatewayError("bad-request", f"--ca-cert {args.ca_cert} is not a CA certificate "
                           "(make one with 'cme-gateway keys ca')")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise GatewayError("bad-request", "--ca-key is not the key of --ca-cert")
    return ca_key, Path(args.ca_cert)


# ---- init ---------------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    """Check everything first, then write: a refused ``init`` leaves nothing behind."""
    party = checks.party(args.party, "--party")
    if args.role == "hub" and party != "S2S":
        raise GatewayError("config-invalid", "the hub role runs as party S2S: use --party S2S")
    folder = checks.writable_folder(args.dir, "--dir")
    path = folder / DEFAULT_CONFIG
    if path.is_dir():
        raise GatewayError("file-error", f"{path} is a folder, not a file")
    if path.exists() and not args.force:
        raise GatewayError("config-invalid", f"{path} exists; use --force to overwrite it")
    for sub in FOLDERS:
        if (folder / sub).exists() and not (folder / sub).is_dir():
            raise GatewayError("file-error", f"{folder / sub} is a file, not a folder")
    # The settings the config we are about to write will give (the template's key and
    # certificate paths are the defaults; the environment may override them, as it will
    # when the gateway runs).
    text = render_config(party, args.port, args.role)
    overrides: dict[str, Any] = {"party": party, "role": args.role}
    if ENV_PREFIX + "HOME" not in os.environ:
        overrides["home"] = folder.resolve()
    s = load_settings(None, **overrides)
    key_file, cert_file = s.path(s.key_file), s.path(s.cert_file)
    keys: tuple[bytes, bytes] | None = None
    if key_file.exists():  # kept (re-running init must not change a gateway's identity)
        cert = _certificate(cert_file, "this gateway's certificate")
        if k.party_of(cert) != party:
            raise GatewayError("config-invalid", f"{cert_file} is the certificate of party "
                               f"{k.party_of(cert)}, not {party}; use another --dir, or "
                               f"remove {key_file.parent} first")
    else:
        keys = new_keys(party, args.key_type)

    created: list[Path] = []  # undone if a write fails after all (a full disk, say)
    try:
        for sub in ("", *FOLDERS):
            for p in reversed([folder / sub, *(folder / sub).parents]):
                if not p.exists():
                    p.mkdir()
                    created.append(p)
        tmp = path.with_name(f".{path.name}.tmp")
        created.append(tmp)
        tmp.write_text(text, encoding="utf-8")
        existed = path.exists()
        os.replace(tmp, path)
        created.remove(tmp)
        if not existed:
            created.append(path)
        if keys is not None:
            created.append(key_file)
            k.write_private(key_file, keys[0])
            created.append(cert_file)
            k.write_public(cert_file, keys[1])
    except BaseException:
        for p in reversed(created):
            if p.is_dir():  # a folder this init made: everything in it is its own
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        raise
    print(f"initialised party {party} in {folder.resolve()}")
    print(f"  config:      {path}")
    print(f"  certificate: {cert_file}  (give this to your partners)")
    print("  next: cme-gateway partners add <party> <cert.pem>; add [endpoints]; "
          "cme-gateway serve")
    return 0


# ---- keys -----------------------------------------------------------------------------------

def cmd_keys_init(args: argparse.Namespace) -> int:
    found = optional_settings(args)
    if found is not None:
        s, _ = found
        key_file, cert_file = s.path(s.key_file), s.path(s.cert_file)
        party = checks.party(args.party, "--party") if args.party else s.party
        if party != s.party:
            raise GatewayError("config-invalid", f"--party {party} is not this gateway's party "
                               f"({s.party}); leave --party out")
    else:
        if not args.party:
            raise GatewayError("bad-party", f"--party is needed when there is no config: "
                               f"use {PARTY_FORMS}")
        party = checks.party(args.party, "--party")
        key_file, cert_file = Path("keys/gateway.key"), Path("keys/gateway.pem")
    ca = _check_ca(args)
    for f in (key_file, cert_file):
        if f.is_dir():
            raise GatewayError("file-error", f"{f} is a folder, not a file")
    if key_file.exists() and not args.force:
        raise GatewayError("config-invalid", f"{key_file} exists; use --force to replace it")
    checks.writable_folder(str(key_file.parent), "the key's folder")
    checks.writable_folder(str(cert_file.parent), "the certificate's folder")
    make_keys(key_file, cert_file, party, args.type, *(ca or (None, None)))
    print(f"key {key_file} and certificate {cert_file} made for party {party}")
    return 0


def cmd_keys_ca(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not 1 <= len(name) <= 64:
        raise GatewayError("bad-request", "--name must be 1 to 64 characters")
    out = checks.writable_folder(args.out, "--out")
    for f in ("ca.key", "ca.pem"):
        if (out / f).is_dir():
            raise GatewayError("file-error", f"{out / f} is a folder, not a file")
    if (out / "ca.key").exists() and not args.force:
        raise GatewayError("config-invalid", f"{out / 'ca.key'} exists; use --force to replace "
                           "it (every certificate it issued would then have to be re-issued)")
    key = k.generate_key(args.type)
    cert = k.make_certificate(name, key, is_ca=True, days=args.days)
    k.write_private(out / "ca.key", k.key_pem(key))
    k.write_public(out / "ca.pem", k.cert_pem(cert))
    print(f"CA made: {out / 'ca.pem'} (key {out / 'ca.key'}); set ca_file to trust it")
    return 0


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    try:
        return (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----")
                else x509.load_der_x509_crl(data))
    except ValueError:
        raise GatewayError("bad-request", f"{path} is not a CRL (PEM or DER)") from None


def cmd_keys_crl(args: argparse.Namespace) -> int:
    """Write (or re-issue) the CA's certificate revocation list, for ``crl_file``. The
    serials already in the file stay revoked; ``--revoke`` adds certificates this CA issued.
    Run it again before the next-update date, or gateways report the CRL stale."""
    folder = checks.readable_folder(args.ca, "--ca")
    ca_key_file = checks.readable_file(str(folder / "ca.key"), "the CA key")
    ca_cert = _certificate(folder / "ca.pem", "the CA certificate")
    try:
        ca_key = k.load_private_key(ca_key_file)
    except (ValueError, TypeError):
        raise GatewayError("bad-request", f"{ca_key_file} is not an unencrypted PEM EC or RSA "
                           "private key") from None
    if not k.pair_matches(ca_key, ca_cert):
        raise GatewayError("bad-request", f"{ca_key_file} is not the key of the CA "
                           "certificate beside it")
    out = Path(args.out) if args.out else folder / "ca.crl"
    revoked_at: dict[int, object] = {}
    if out.is_file():
        old = _load_crl(out)
        ca_public = ca_cert.public_key()  # (an EC or RSA key: what this CA makes)
        if old.issuer != ca_cert.subject or not old.is_signature_valid(
                ca_public):  # type: ignore[arg-type]
            raise GatewayError("bad-request", f"{out} is not a CRL of this CA: give another "
                               "--out, or remove it")
        revoked_at = {r.serial_number: r.revocation_date_utc for r in old}
    added = []
    for name in args.revoke or []:
        cert = _certificate(Path(name), "--revoke")
        if cert == ca_cert:
            raise GatewayError("bad-request", f"--revoke {name} is the CA's own certificate: "
                               "to stop trusting the CA, take it out of ca_file")
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            raise GatewayError("bad-request", f"--revoke {name}: not issued by this CA") \
                from None
        if cert.serial_number not in revoked_at:
            added.append(cert)
    serials = [*revoked_at, *(c.serial_number for c in added)]
    crl = k.make_crl(ca_key, ca_cert, serials, days=args.days,
                     revoked_at=revoked_at)  # type: ignore[arg-type]
    checks.writable_folder(str(out.parent), "the CRL's folder")
    k.write_public(out, k.crl_pem(crl))
    for c in added:
        print(f"revoked {k.party_of(c) or '?'} serial {c.serial_number:x} "
              f"({k.fingerprint(c)[:16]}...)")
    print(f"CRL written: {out}, {len(serials)} revoked, next update "
          f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC; point crl_file at it on every gateway "
          f"that trusts this CA, and run this again before then")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """The next key and certificate for this gateway; the current pair kept in previous/."""
    s = gateway_settings(args)
    key_file, cert_file = s.path(s.key_file), s.path(s.cert_file)
    ca = _check_ca(args)
    checks.readable_file(str(key_file), "this gateway's key")
    old = _certificate(cert_file, "this gateway's certificate")
    checks.writable_folder(str(key_file.parent), "the key's folder")
    checks.writable_folder(str(cert_file.parent), "the certificate's folder")
    if args.stage:
        cert = k.stage(key_file, cert_file, s.party, args.type, days=args.days,
                       ca_key=ca[0] if ca else None, ca_cert=ca[1] if ca else None)
        print(f"party {s.party}: next key and certificate made in {key_file.parent / 'next'}; "
              f"this gateway still signs with the current one", file=sys.stderr)
        print(f"  next certificate: {k.fingerprint(cert)[:16]}...  until "
              f"{cert.not_valid_after_utc:%Y-%m-%d}", file=sys.stderr)
        print("  give it (below) to every partner now; each adds it beside the current one:\n"
              f"    cme-gateway partners add {s.party} next.pem\n"
              "  once they all have, switch to it with no gap: cme-gateway keys rotate",
              file=sys.stderr)
        sys.stdout.write(k.cert_pem(cert).decode())
        return 0
    if args.type and k.staged_pair(key_file, cert_file) is not None:
        raise GatewayError("config-invalid", "a next pair is staged in keys/next/ and is "
                           "switched to as it is: leave --type out, or remove that folder")
    rotation = k.rotate(key_file, cert_file, s.party, args.type, days=args.days,
                        ca_key=ca[0] if ca else None, ca_cert=ca[1] if ca else None)
    cert = rotation.cert
    print(f"party {s.party} signs with a new key from now on (a running gateway switches "
          f"within a second)", file=sys.stderr)
    if rotation.staged:
        print("  it is the pair staged earlier: partners that added it trust it already",
              file=sys.stderr)
    print(f"  new certificate:  {cert_file}  {rotation.fingerprint[:16]}...  until "
          f"{cert.not_valid_after_utc:%Y-%m-%d}", file=sys.stderr)
    print(f"  previous, kept:   {rotation.previous_cert} and {rotation.previous_key.name}",
          file=sys.stderr)
    if ca:
        print("  partners that trust the CA need do nothing; partners that pinned the old "
              "certificate add the new one:", file=sys.stderr)
    else:
        print("  give the new certificate (below) to every partner; each adds it next to the "
              "old one:", file=sys.stderr)
    print(f"    cme-gateway partners add {s.party} {cert_file.name}", file=sys.stderr)
    print(f"  and, once the messages signed with the old key are delivered, retires the "
          f"old one:\n    cme-gateway partners remove {s.party} --fingerprint "
          f"{k.fingerprint(old)[:16]}", file=sys.stderr)
    sys.stdout.write(k.cert_pem(cert).decode())
    return 0


# ---- partners -------------------------------------------------------------------------------

def _partners_folder(args: argparse.Namespace) -> tuple[Settings, Path]:
    s = gateway_settings(args)  # never a ./keys/partners of whatever folder this is
    partners = s.path(s.partners_dir)
    if partners.exists() and not partners.is_dir():
        raise GatewayError("file-error", f"partners_dir {partners} is a file, not a folder")
    return s, partners


def cmd_partners_add(args: argparse.Namespace) -> int:
    party = checks.party(args.party, "party")
    _, partners = _partners_folder(args)
    cert = _certificate(Path(args.cert), "certificate")
    named = k.party_of(cert)
    if named not in (None, party):
        print(f"warning: the certificate's CN is {named}, not {party}", file=sys.stderr)
    result = directory.add_certificate(partners, party, cert)
    if result.others:
        print(f"warning: the directory also lists this certificate for "
              f"{', '.join(result.others)}; a certificate under two parties speaks for "
              f"neither", file=sys.stderr)
    mine = directory.list_certificates(partners, party)
    how = "added" if result.added else "already there"
    print(f"partner {party}: certificate {k.fingerprint(cert)[:16]}... {how} "
          f"({len(mine)} in all) in {partners}")
    return 0


def cmd_partners_remove(args: argparse.Namespace) -> int:
    party = checks.party(args.party, "party")
    _, partners = _partners_folder(args)
    gone = directory.remove_certificate(partners, party, args.fingerprint)
    for e in gone:
        print(f"partner {party}: certificate {e.fingerprint[:16]}... removed (until "
              f"{e.not_after:%Y-%m-%d})")
    left = directory.list_certificates(partners, party)
    print(f"partner {party}: {len(left)} certificate{'s' if len(left) != 1 else ''} left")
    return 0


def cmd_partners_list(args: argparse.Namespace) -> int:
    s, folder = _partners_folder(args)
    entries, problems = directory.load(folder)
    entries.sort(key=lambda e: (e.party, e.not_after, e.fingerprint))
    for e in entries:
        endpoint = s.endpoints.get(e.party, "(no endpoint)")
        state = "" if e.current() else "  (not valid now)"
        print(f"{e.party:8} {e.fingerprint[:16]}  until {e.not_after:%Y-%m-%d}  "
              f"{e.key_type:10} {endpoint}{state}")
    for problem in problems:
        print(f"ignored: {problem}")
    if not entries:
        print(f"(no partners in {folder})")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(settings_docs())
    return 0


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("init", help="create a config, folders and keys for a party")
    sp.add_argument("--party", required=True,
                    help="3-digit LA code, 7-digit LAESTAB (3524001 or 352/4001) or S2S")
    sp.add_argument("--dir", default=".")
    sp.add_argument("--port", type=checks.port, default=8000)
    sp.add_argument("--role", choices=["la", "hub"], default="la")
    sp.add_argument("--key-type", choices=["ec", "rsa"], default="ec")
    sp.add_argument("--force", action="store_true", help="overwrite an existing config")
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
    sp.add_argument("--days", type=checks.whole_number(1, 36500), default=3650)
    sp.add_argument("--force", action="store_true", help="replace an existing CA key")
    sp.set_defaults(func=cmd_keys_ca)
    sp = keys.add_parser("crl", help="write or re-issue the CA's revocation list (for "
                         "crl_file), revoking certificates it issued")
    sp.add_argument("--ca", default="keys/ca", help="the CA's folder (ca.key, ca.pem)")
    sp.add_argument("--revoke", action="append", metavar="CERT.pem",
                    help="a certificate this CA issued, to revoke (repeatable)")
    sp.add_argument("--days", type=checks.whole_number(1, 365), default=7,
                    help="days until the next update (default 7)")
    sp.add_argument("--out", help="the CRL file (default: ca.crl in the CA's folder); the "
                    "serials already in it stay revoked")
    sp.set_defaults(func=cmd_keys_crl)
    sp = keys.add_parser("rotate", help="make this gateway's next key and certificate, "
                         "keeping the current pair in previous/")
    sp.add_argument("--type", choices=["ec", "rsa"], help="key type (default: the current one)")
    sp.add_argument("--ca-key", help="the CA that issued the current certificate: its key")
    sp.add_argument("--ca-cert", help="and its certificate")
    sp.add_argument("--days", type=checks.whole_number(1, 3650), default=730)
    sp.add_argument("--stage", action="store_true",
                    help="only make the next pair (in keys/next/) and print its certificate "
                    "for partners to add; a later 'keys rotate' switches to it")
    sp.set_defaults(func=cmd_keys_rotate)

    partners = sub.add_parser("partners", help="the partner directory").add_subparsers(
        dest="partners_cmd", required=True)
    sp = partners.add_parser("add", help="trust a partner's certificate (added to the ones it "
                             "has)")
    sp.add_argument("party")
    sp.add_argument("cert")
    sp.set_defaults(func=cmd_partners_add)
    sp = partners.add_parser("list", help="list trusted partners: every certificate with its "
                             "fingerprint and expiry")
    sp.set_defaults(func=cmd_partners_list)
    sp = partners.add_parser("remove", help="retire a partner's certificate (or all of them)")
    sp.add_argument("party")
    sp.add_argument("--fingerprint", help="the certificate's SHA-256 fingerprint, or its "
                    "first 8 or more hex digits (partners list shows 16); default: all")
    sp.set_defaults(func=cmd_partners_remove)

    sp = sub.add_parser("config", help="print the table of every setting")
    sp.set_defaults(func=cmd_config)
