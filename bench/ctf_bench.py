"""CTF benchmark: a signed 500-pupil CTF of about 10 MB, accepted by the gateway, beside
``xmlsec1 --verify`` on the same CTF in the same run.

    python -m bench.ctf_bench [--pupils 500] [--database sqlite|postgres|DSN] [--repeat N]

The gateway carries the CTF beside a signed envelope that signs its SHA-256 (see README), so
its accept path is: verify the envelope, hash the CTF as a stream, validate it against
``schemas/ctf.xsd`` as a stream, store every pupil as its own row and the CTF itself (a file
in ``ctf_dir`` on SQLite; 256 KiB rows in the same transaction on PostgreSQL), commit.
xmlsec1 verifies the same CTF signed the classic way (enveloped signature over the whole
document). Each side runs in a fresh process; peak RSS is that process's ru_maxrss
(os.wait4).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lxml import etree

from bench.common import ROOT, machine
from gateway.core.files import file_digest
from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.testing.ctf import write_ctf

TEMPLATE = """<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>
<ds:Reference URI=""><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>
</ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data>
<ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"""


# A forked child's ru_maxrss starts from its parent's resident size (the pages are counted
# before exec), and this bench process is large. So each measured command is started by a
# tiny launcher (python -S, a few MB) that reports the command's own peak RSS and time.
LAUNCHER = """
import os, subprocess, sys, time
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(p.pid, 0)
print(f"@@{time.perf_counter() - t} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def timed(cmd: list[str], **kw: object) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (of that command alone) and its stdout."""
    res = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *cmd], capture_output=True,
                         text=True, **kw)  # type: ignore[call-overload]
    *lines, last = res.stdout.strip().splitlines()
    seconds, rss_kb, code = last[2:].split()
    if int(code) != 0:
        raise RuntimeError(f"{cmd[0]} failed: {res.stderr[-2000:]}")
    return float(seconds), int(rss_kb) / 1024, "\n".join(lines)


def run(pupils: int, database: str | None = None) -> dict[str, float]:
    from tests.conftest import make_home

    tmp = Path(tempfile.mkdtemp(prefix="cme-ctf-bench-"))
    extra = 'log_level = "WARNING"\n' + (f'database = "{database}"\n' if database else "")
    hub = make_home(tmp, "S2S", role="hub", extra=extra)
    school = make_home(tmp, "3552001")
    hub.trust(school)
    ctf = tmp / "ctf.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("XXX", "XXXX") if pupils == 1 else
              ("352", "4001"), pupils=pupils)
    # the hub forwards to 352: give it an endpoint (nothing is sent during the bench)
    cfg = hub.config.read_text().replace("[endpoints]", '[endpoints]\n"352" = '
                                         '"http://127.0.0.1:9/v1/messages"')
    hub.config.write_text(cfg)

    key = k.load_private_key(school.path / "keys/gateway.key")
    cert = k.load_certificate(school.path / "keys/gateway.pem")
    digest, size = file_digest(ctf)
    env = m.Transfer(header=m.Header(m.new_id(), m.new_id(), m.utcnow(), "3552001", "S2S",
                                     m.MessageType.TRANSFER),
                     purpose=m.Purpose.DELIVER, payload=m.Payload(digest, size))
    envelope = tmp / f"{env.header.message_id}.xml"
    envelope.write_bytes(Signer(key, cert).sign(mx.build(env)))

    # xmlsec1's input: the same CTF with a classic enveloped signature
    (tmp / "key.pem").write_bytes(k.key_pem(key))
    (tmp / "cert.pem").write_bytes(k.cert_pem(cert))
    tree = etree.parse(str(ctf), etree.XMLParser(huge_tree=True))
    tree.getroot().append(etree.fromstring(TEMPLATE))
    tpl = tmp / "ctf-template.xml"
    tree.write(str(tpl), xml_declaration=True, encoding="utf-8")
    del tree
    xmlsec = shutil.which("xmlsec1") or "xmlsec1"
    signed = tmp / "ctf-signed.xml"
    subprocess.run([xmlsec, "--sign", "--privkey-pem", f"{tmp / 'key.pem'},{tmp / 'cert.pem'}",
                    "--output", str(signed), str(tpl)], check=True, capture_output=True)

    x_s, x_rss, _ = timed([xmlsec, "--verify", "--pubkey-cert-pem", str(tmp / "cert.pem"),
                           str(signed)])
    g_wall, g_rss, out = timed([sys.executable, "-m", "bench.ctf_accept", str(hub.config),
                                str(envelope), str(ctf)], cwd=ROOT)
    inner = json.loads(out.strip().splitlines()[-1])
    baseline_wall, baseline_rss, _ = timed(
        [sys.executable, "-c", "import gateway.hub.transfers, gateway.exchange.gateway"],
        cwd=ROOT)
    shutil.rmtree(tmp, ignore_errors=True)
    return {"pupils": inner["pupils"], "mb": size / 1e6, "xmlsec_s": x_s, "xmlsec_rss": x_rss,
            "gw_accept_s": inner["seconds"], "gw_wall_s": g_wall, "gw_rss": g_rss,
            "py_import_s": baseline_wall, "py_import_rss": baseline_rss}


def report(r: dict[str, float]) -> str:
    return "\n".join([
        f"machine: {machine()}",
        f"CTF accept: {int(r['pupils'])} pupils, {r['mb']:.1f} MB, signed",
        "| what | seconds | peak RSS MB |",
        "|---|---|---|",
        f"| xmlsec1 --verify (enveloped signature over the whole CTF) | {r['xmlsec_s']:.2f} | "
        f"{r['xmlsec_rss']:.0f} |",
        f"| gateway accept: verify envelope, stream-hash, stream-validate, store "
        f"{int(r['pupils'])} pupil rows and the CTF, commit | {r['gw_accept_s']:.2f} | "
        f"{r['gw_rss']:.0f} |",
        f"| (gateway process wall time incl. Python start-up) | {r['gw_wall_s']:.2f} | |",
        f"| (floor: Python importing the gateway, nothing else) | {r['py_import_s']:.2f} | "
        f"{r['py_import_rss']:.0f} |",
        f"ratio to xmlsec1: time {r['gw_accept_s'] / r['xmlsec_s']:.2f}x, "
        f"peak memory {r['gw_rss'] / r['xmlsec_rss']:.2f}x (goal: at most 2x each)",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pupils", type=int, default=500)
    ap.add_argument("--database", default="sqlite",
                    help="sqlite (default: the hub's own file), postgres (a throwaway server "
                         "started for the run, as `make bench` does) or a PostgreSQL DSN")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run N times and report each (the machine is noisy)")
    args = ap.parse_args()
    if args.database != "postgres":
        dsn = None if args.database == "sqlite" else args.database
        for _ in range(args.repeat):
            print(report(run(args.pupils, dsn)))
        return
    import time

    from tests.pgserver import postgres_server
    with postgres_server() as pg:
        for i in range(args.repeat):
            dsn = pg.create_database(f"ctf_{int(time.time() * 1000) % 10**9}_{i}")
            print(report(run(args.pupils, dsn)))


if __name__ == "__main__":
    main()
