"""The inbound path step by step, in CPU microseconds per message, in-process (no HTTP, no
store): where the server's CPU per message goes, without cProfile's distortion.

    python -m bench.inbound_parts [-n 1000]

Each step runs five times over N different signed enquiries (one child each, as the inbound
bench sends), timed with ``time.process_time``, the least kept; the steps are those of
``gateway.exchange.inbound.verify_and_parse`` and the signed Receipt of ``answers.receipt``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import machine


def _each(items: list[Any], step: Callable[[Any], Any], repeat: int = 5
          ) -> tuple[float, list[Any]]:
    """CPU µs per item of ``step``: the least of ``repeat`` passes (the machine is shared, and
    other work only ever adds time), with the first pass's results."""
    best = float("inf")
    out: list[Any] = []
    for i in range(repeat):
        t = time.process_time()
        got = [step(x) for x in items]
        best = min(best, time.process_time() - t)
        out = out if i else got
    return best / len(items) * 1e6, out


async def _receipt(s: Any, headers: list[Any], r: dict[str, float]) -> None:
    from gateway.exchange import answers
    from gateway.exchange.gateway import Gateway
    from gateway.messages import model as m
    from gateway.messages import xml as mx

    gw = await Gateway.open(s)
    try:
        now = dt.datetime.now(dt.UTC)
        r["receipt: model"], rec = _each(headers, lambda h: m.Receipt(
            header=gw.header(m.MessageType.RECEIPT, h.sender, conversation_id=h.conversation_id,
                             in_reply_to=h.message_id), received_message_id=h.message_id,
            digest_sha256="0" * 64, received_at=now))
        r["receipt: build XML"], els = _each(rec, mx.build)
        r["receipt: sign"], _ = _each(els, gw.signer.sign)
        r["all of the signed receipt"], _ = _each(headers, lambda h: answers.receipt(
            gw, h, "0" * 64, now))
    finally:
        await gw.close()


def run(n: int = 2000) -> dict[str, float]:
    from bench.inbound_bench import presign
    from gateway.core import xmlsafe
    from gateway.crypto import dsig
    from gateway.crypto import keys as k
    from gateway.crypto.trust import TrustStore
    from gateway.exchange import inbound
    from gateway.messages import schemas
    from gateway.messages import xml as mx
    from tests.conftest import enquiry, pair

    tmp = Path(tempfile.mkdtemp(prefix="cme-parts-"))
    a, b = pair(tmp)
    signer = dsig.Signer(k.load_private_key(a.path / "keys/gateway.key"),
                         k.load_certificate(a.path / "keys/gateway.pem"))
    s = b.settings()
    trust = TrustStore(b.path / "keys/partners")
    bodies = presign(signer, enquiry, n)
    warm = presign(signer, enquiry, 50)
    for body in warm:  # caches: schemas, read specs, the trust store
        inbound.verify_and_parse(body, trust, s)
    r: dict[str, float] = {"n": n, "bytes": len(bodies[0])}
    r["sha256 of the body"], _ = _each(bodies, lambda x: hashlib.sha256(x).hexdigest())
    r["safe parse + shape checks"], _ = _each(bodies, lambda x: xmlsafe.parse(
        x, max_depth=s.max_depth, max_elements=s.max_elements))
    # verify may take the signature and comments out of the tree it is given: each pass
    # parses again, and the parse's own figure is taken off
    both, ver = _each(bodies, lambda x: dsig.verify(xmlsafe.parse(
        x, max_depth=s.max_depth, max_elements=s.max_elements), x, trust))
    r["verify (profile, trust, digest, ECDSA; signed content)"] = \
        both - r["safe parse + shape checks"]
    signed = [v.signed for v in ver]
    r["XSD validation + identifier checks"], _ = _each(signed, schemas.validate)
    r["model mapping"], msgs = _each(signed, mx.parse)
    r["all of verify_and_parse"], _ = _each(
        bodies, lambda x: inbound.verify_and_parse(x, trust, s))

    asyncio.run(_receipt(s, [msg.header for msg in msgs], r))
    return r


def report(r: dict[str, float]) -> str:
    lines = [f"machine: {machine()}",
             f"inbound steps in-process, CPU µs per message ({int(r['n'])} enquiries of "
             f"{int(r['bytes'])} bytes)", "", "| step | µs |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r.items() if k not in ("n", "bytes")]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=1000)
    print(report(run(ap.parse_args().n)))


if __name__ == "__main__":
    main()
