"""Interop with xmlsec1, an independent XML-DSig implementation, in both directions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto import dsig
from gateway.crypto import keys as k
from gateway.exchange.inbound import verify_and_parse
from gateway.messages import xml as mx
from tests.conftest import Pki, enquiry

XMLSEC = shutil.which("xmlsec1")
if XMLSEC is None:  # never skip silently: the suite needs the real peer
    raise RuntimeError("xmlsec1 is not installed; .ci/run installs it (apt-get install xmlsec1)")

TEMPLATE = """<{p}Signature xmlns{c}="http://www.w3.org/2000/09/xmldsig#">
  <{p}SignedInfo>
    <{p}CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
    <{p}SignatureMethod Algorithm="{method}"/>
    <{p}Reference URI="">
      <{p}Transforms>
        <{p}Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        <{p}Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      </{p}Transforms>
      <{p}DigestMethod Algorithm="{digest}"/>
      <{p}DigestValue/>
    </{p}Reference>
  </{p}SignedInfo>
  <{p}SignatureValue/>
  <{p}KeyInfo><{p}X509Data><{p}X509Certificate/></{p}X509Data></{p}KeyInfo>
</{p}Signature>"""


def write_keys(tmp: Path, p) -> tuple[Path, Path]:
    key, cert = tmp / f"{p.party}.key", tmp / f"{p.party}.pem"
    key.write_bytes(k.key_pem(p.key))
    cert.write_bytes(k.cert_pem(p.cert))
    return key, cert


def xmlsec_sign(tmp: Path, p, prefix: str = "ds", method: str = dsig.ECDSA_SHA256,
                digest: str = dsig.SHA256) -> bytes:
    root = mx.build(enquiry(sender=p.party))
    pfx, colon = (f"{prefix}:", f":{prefix}") if prefix else ("", "")
    root.append(etree.fromstring(TEMPLATE.format(p=pfx, c=colon, method=method, digest=digest)))
    tpl = tmp / "template.xml"
    tpl.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    key, cert = write_keys(tmp, p)
    out = tmp / "signed.xml"
    res = subprocess.run([XMLSEC, "--sign", "--privkey-pem", f"{key},{cert}", "--output",
                          str(out), str(tpl)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out.read_bytes()


def test_gateway_signature_passes_xmlsec1_verify(pki: Pki, tmp_path: Path) -> None:
    p = pki.parties["355"]
    _, cert = write_keys(tmp_path, p)
    msg = tmp_path / "msg.xml"
    msg.write_bytes(p.signer.sign(mx.build(enquiry())))
    res = subprocess.run([XMLSEC, "--verify", "--pubkey-cert-pem", str(cert), str(msg)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stderr
    # and xmlsec1 refuses it with another party's certificate: the check is real
    _, other = write_keys(tmp_path, pki.parties["352"])
    res = subprocess.run([XMLSEC, "--verify", "--pubkey-cert-pem", str(other), str(msg)],
                         capture_output=True, text=True)
    assert res.returncode != 0


def test_gateway_rsa_signature_passes_xmlsec1_verify(pki: Pki, tmp_path: Path) -> None:
    p = pki.party("340", kind="rsa")
    _, cert = write_keys(tmp_path, p)
    msg = tmp_path / "msg.xml"
    msg.write_bytes(p.signer.sign(mx.build(enquiry(sender="340"))))
    res = subprocess.run([XMLSEC, "--verify", "--pubkey-cert-pem", str(cert), str(msg)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("prefix", ["ds", "dsig", ""])
def test_xmlsec1_signature_is_accepted(pki: Pki, tmp_path: Path, prefix: str) -> None:
    data = xmlsec_sign(tmp_path, pki.parties["355"], prefix)
    msg = verify_and_parse(data, pki.trust("355"), Settings(party="352"))
    assert msg.header.sender == "355"


def test_xmlsec1_rsa_signature_is_accepted(pki: Pki, tmp_path: Path) -> None:
    p = pki.party("341", kind="rsa")
    data = xmlsec_sign(tmp_path, p, method=dsig.RSA_SHA256)
    assert verify_and_parse(data, pki.trust("341"), Settings(party="352")).header.sender == "341"


def test_xmlsec1_signature_by_untrusted_key_is_refused(pki: Pki, tmp_path: Path) -> None:
    data = xmlsec_sign(tmp_path, pki.parties["999"])
    with pytest.raises(GatewayError) as info:
        verify_and_parse(data, pki.trust("355"), Settings(party="352"))
    assert info.value.code == "certificate-untrusted"


def test_real_sha1_signature_from_xmlsec1_is_refused(pki: Pki, tmp_path: Path) -> None:
    p = pki.party("342", kind="rsa")
    data = xmlsec_sign(tmp_path, p, method="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                       digest="http://www.w3.org/2000/09/xmldsig#sha1")
    with pytest.raises(GatewayError) as info:
        verify_and_parse(data, pki.trust("342"), Settings(party="352"))
    assert info.value.code == "signature-algorithm"
