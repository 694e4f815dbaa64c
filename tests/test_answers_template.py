"""Receipts made from a template (``answers.ReceiptTemplate`` + ``Signer.sign_canonical``):
byte for byte the model mapping's canonical form, whatever the values; and the signed receipt
verifies here, with signxml and with xmlsec1, and reads back as the Receipt it stands for."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import XMLVerifier

from gateway.core import xmlsafe
from gateway.crypto import dsig
from gateway.crypto import keys as k
from gateway.crypto.trust import TrustStore
from gateway.exchange import answers
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from tests.conftest import Pki, header, pair
from tests.test_xmlsec_interop import XMLSEC

# element text of any kind: the characters C14N escapes (&, <, >, CR), quotes, non-ASCII
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"),
                             include_characters="&<>\r\"'"), min_size=1, max_size=40)
TIMES = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9000, 1, 1),
                     timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=5))]))


def canonical(message: m.Message) -> bytes:
    return etree.tostring(mx.build(message), method="c14n", exclusive=True)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=st.fixed_dictionaries({
    "message_id": TEXT, "conversation_id": TEXT, "created_at": TIMES, "sender": TEXT,
    "recipient": TEXT, "received_message_id": TEXT, "digest": TEXT, "received_at": TIMES}),
    legal_basis=st.one_of(st.none(), TEXT))
def test_a_filled_template_is_the_mappings_canonical_form(values, legal_basis) -> None:
    template = answers.ReceiptTemplate.of(legal_basis)
    if template is None:  # only a legal basis holding a placeholder's text
        assert any(f"@{name}@" in legal_basis for name in answers._SLOTS)
        return
    assert template.fill(**values) == canonical(answers._sample_receipt(values, legal_basis))


def test_a_legal_basis_the_template_cannot_hold_makes_no_template() -> None:
    assert answers.ReceiptTemplate.of("see @sender@") is None
    assert answers.ReceiptTemplate.of("Education Act 1996, s.436A & <regs>") is not None


@pytest.fixture
async def gateway(tmp_path):
    a, b = pair(tmp_path)
    gw = await Gateway.open(b.settings())
    yield gw, a, b
    await gw.close()


@pytest.mark.parametrize("legal_basis", ["", "Education Act 1996 s.436A", "see @sender@"])
async def test_the_signed_receipt_verifies_and_reads_as_the_receipt(gateway, legal_basis,
                                                                    tmp_path) -> None:
    gw, a, b = gateway
    gw.settings = gw.settings.__class__(**{**gw.settings.__dict__,
                                           "legal_basis": legal_basis})
    asked = header(m.MessageType.ENQUIRY, sender=a.party, recipient=b.party)
    now = dt.datetime(2026, 12, 5, 11, 0, 0, 123456, dt.UTC)
    data = answers.receipt(gw, asked, "ab" * 32, now)
    # verifies here, against the receiving side's directory (the gateway's own certificate)
    a.trust(b)
    root = xmlsafe.parse(data, max_depth=48, max_elements=20000)
    verified = dsig.verify(root, data, TrustStore(a.path / "keys/partners"))
    assert verified.party == b.party
    schemas.validate(verified.signed)
    got = mx.parse(verified.signed)
    assert isinstance(got, m.Receipt)
    assert (got.received_message_id, got.digest_sha256) == (asked.message_id, "ab" * 32)
    assert got.received_at == now.replace(microsecond=123000)
    h = got.header
    assert (h.sender, h.recipient, h.conversation_id, h.in_reply_to, h.message_type) == (
        b.party, a.party, asked.conversation_id, asked.message_id, m.MessageType.RECEIPT)
    assert h.legal_basis == (legal_basis or None)
    uuid.UUID(h.message_id)
    # and with the two independent implementations
    cert = k.load_certificate(b.path / "keys/gateway.pem")
    XMLVerifier().verify(data, x509_cert=cert)
    (tmp_path / "r.pem").write_bytes(k.cert_pem(cert))
    (tmp_path / "r.xml").write_bytes(data)
    res = subprocess.run([XMLSEC, "--verify", "--pubkey-cert-pem", str(tmp_path / "r.pem"),
                          "--enabled-reference-uris", "empty", str(tmp_path / "r.xml")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_sign_canonical_is_what_sign_makes_of_the_element(pki: Pki, kind: str) -> None:
    p = pki.parties["355"] if kind == "ec" else pki.party("355r", "rsa")
    signer = p.signer
    el = mx.build(answers._sample_receipt(
        {"message_id": m.new_id(), "conversation_id": m.new_id(), "created_at": m.utcnow(),
         "sender": "355", "recipient": "352", "received_message_id": m.new_id(),
         "digest": "0" * 64, "received_at": m.utcnow()}, None))
    data = signer.sign_canonical(canonical_el := etree.tostring(el, method="c14n",
                                                                exclusive=True))
    XMLVerifier().verify(data, x509_cert=p.cert)
    ours, theirs = (etree.fromstring(x) for x in (data, signer.sign(el)))
    # the same document: the same signed content and digest (ECDSA values differ each time)
    assert etree.tostring(ours, method="c14n", exclusive=True).startswith(canonical_el[:-10])
    digest = f"{{{dsig.DS}}}DigestValue"
    assert ours.findtext(f".//{digest}") == theirs.findtext(f".//{digest}")
    with pytest.raises(ValueError):
        signer.sign_canonical(b"not xml")
