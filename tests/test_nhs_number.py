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


def test_an_equal_valid_nhs_number_decides_and_different_ones_forbid_a_match() -> None:
    from gateway.matching import MATCH, MatchConfig, Matcher, Record

    held = [Record("r1", surname="Nowak", forename="Zofia", dob="2016-05-05", sex="F",
                   nhs_number=GOOD),
            Record("r2", surname="Smith", forename="Oliver", dob="2014-01-01", sex="M",
                   nhs_number="4010232137")]
    m_ = Matcher.from_records(held, MatchConfig())
    # the names garbled past recognition: the NHS number still decides
    [c] = m_.match(Record("q", surname="Nwoak", forename="Zzzz", nhs_number="943 476 5919"))
    assert (c.record_id, c.band) == ("r1", MATCH) and "decisive" in c.explanation["nhs_number"]
    # everything the same but a different valid NHS number (held by nobody): never a match
    cands = m_.match(Record("q", surname="Nowak", forename="Zofia", dob="2016-05-05", sex="F",
                            nhs_number="4505577104"))
    assert cands[0].record_id == "r1" and cands[0].band != MATCH
    assert "NHS numbers" in cands[0].explanation["band_rule"]
    # a wrong check digit neither decides nor forbids
    cands = m_.match(Record("q", surname="Nowak", forename="Zofia", dob="2016-05-05", sex="F",
                            nhs_number=BAD_DIGIT))
    assert cands[0].record_id == "r1" and cands[0].band == MATCH
    assert "nhs_number" not in cands[0].explanation or "decisive" not in \
        cands[0].explanation["nhs_number"]
    # a UPN and an NHS number naming two different records decide nothing
    from gateway.testing.ctf import make_upn

    upn = make_upn("352", "4001", 16, 1)
    held2 = [dataclasses.replace(held[0], upn=upn), held[1]]
    m2 = Matcher.from_records(held2, MatchConfig())
    cands = m2.match(Record("q", surname="Nowak", forename="Zofia", upn=upn,
                            nhs_number="4010232137"))
    assert not (len(cands) == 1 and "decisive" in str(cands[0].explanation))
