"""The NHS number, the consistent child identifier: carried on enquiries, referrals and register
entries, its modulus-11 check digit verified wherever a message is validated (received, loaded
to send, or built by an officer's form)."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.exchange.inbound import verify_and_parse
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.messages.load import Limits, load_unsigned
from tests.conftest import Pki, enquiry

GOOD, BAD_DIGIT, SHORT = "9434765919", "9434765918", "943476591"
LIMITS = Limits(1_000_000, 48, 20_000)


def with_nhs(number: str) -> m.Enquiry:
    e = enquiry(n=2)
    kids = (dataclasses.replace(e.children[0], nhs_number=number), e.children[1])
    return dataclasses.replace(e, children=kids)


def test_a_valid_nhs_number_travels_and_reads_back() -> None:
    el = mx.build(with_nhs(GOOD))
    assert el.find(f".//{{{m.NS}}}NHSNumber").text == GOOD
    schemas.validate(el)
    back = load_unsigned(mx.to_bytes(el), LIMITS)
    assert isinstance(back, m.Enquiry) and back.children[0].nhs_number == GOOD


@pytest.mark.parametrize("number,code", [(BAD_DIGIT, "nhs-number-invalid"),
                                         ("0000000001", "nhs-number-invalid"),
                                         (SHORT, "schema-invalid"),
                                         ("943 476 5919", "schema-invalid")])
def test_a_wrong_nhs_number_is_refused_when_loaded_and_when_received(
        pki: Pki, number: str, code: str) -> None:
    data = mx.to_bytes(mx.build(with_nhs(number)))
    with pytest.raises(GatewayError) as info:
        load_unsigned(data, LIMITS)
    assert info.value.code == code and number not in (info.value.detail or "")
    signed = pki.parties["355"].signer.sign(etree.fromstring(data))
    with pytest.raises(GatewayError) as info:
        verify_and_parse(signed, pki.trust("355"), Settings(party="352"))
    assert info.value.code == code
