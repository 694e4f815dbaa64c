"""Message formats: examples, schemas, and the build/sign/verify/parse round trip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.exchange.inbound import verify_and_parse
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from tests.conftest import Pki, enquiry, header

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["enquiry", "reply", "referral", "receipt", "error", "chaser",
                                  "traveller-move"])
def test_examples_are_schema_valid_from_355_to_352(name: str) -> None:
    root = etree.fromstring((EXAMPLES / f"{name}.xml").read_bytes())
    assert schemas.validate(root).value.lower() == name.replace("-", "")
    msg = mx.parse(root)
    assert (msg.header.sender, msg.header.recipient) == ("355", "352")
    # the example survives a rebuild unchanged
    assert mx.parse(mx.build(msg)) == msg


def _invalid(root: etree._Element) -> str:
    with pytest.raises(GatewayError) as info:
        schemas.validate(root)
    return info.value.code


def test_schema_rejects_bad_values_without_echoing_them() -> None:
    root = mx.build(enquiry())
    root.find(".//{urn:cme-gateway:message:1}Child/{urn:cme-gateway:message:1}Forename")\
        .addnext(etree.fromstring('<UPN xmlns="urn:cme-gateway:message:1">SECRET12</UPN>'))
    with pytest.raises(GatewayError) as info:
        schemas.validate(root)
    assert info.value.code == "schema-invalid"
    assert "SECRET12" not in info.value.text


def test_schema_rejects_missing_header_unknown_category_and_local_time() -> None:
    root = mx.build(enquiry())
    root.remove(root[0])
    assert _invalid(root) == "schema-invalid"
    ref = etree.fromstring((EXAMPLES / "referral.xml").read_bytes())
    ref.find("{urn:cme-gateway:message:1}Category").text = "10"
    assert _invalid(ref) == "schema-invalid"
    root = mx.build(enquiry())
    root.find(".//{urn:cme-gateway:message:1}CreatedAt").text = "2026-11-27T10:00:00"
    assert _invalid(root) == "schema-invalid"


def test_unknown_root_is_refused() -> None:
    assert _invalid(etree.fromstring(b'<Enquiry xmlns="urn:other"/>')) == "unknown-message-type"


def test_duplicate_child_refs_are_refused() -> None:
    msg = enquiry(n=2)
    children = (msg.children[0], m.EnquiryChild(**{**msg.children[1].__dict__, "child_ref": "1"}))
    root = mx.build(m.Enquiry(**{**msg.__dict__, "children": children}))
    assert _invalid(root) == "schema-invalid"


def test_too_many_children_are_refused() -> None:
    assert _invalid(mx.build(enquiry(n=101))) == "schema-invalid"


# ---- property: build -> sign -> verify -> parse gives back the same model ----------------

# Characters XML 1.0 can carry; XML normalises line ends, so no bare CR.
text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
               | st.sampled_from(["\n", "\t"]), min_size=1, max_size=40)
opt = lambda s: st.none() | s  # noqa: E731
dates = st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31))
school = st.builds(m.School, name=text, laestab=opt(st.from_regex(r"\A[0-9]{7}\Z")),
                   local_authority=opt(text))
address = st.builds(m.Address, lines=st.lists(text, max_size=4).map(tuple),
                    postcode=opt(text), telephone=opt(text))
child = st.builds(
    m.EnquiryChild, child_ref=st.just("x"), surname=text, forename=text,
    middle_names=opt(text), dob=opt(dates), gender=opt(text), ethnicity=opt(text),
    upn=opt(st.from_regex(r"\A[A-Z][0-9]{11}[0-9A-Z]\Z")), school_last_attended=opt(school),
    parent_guardian=opt(text), address_while_resident=opt(address), new_address=opt(address),
    new_school=opt(school), gp_details=opt(text), remarks=opt(text))
officer = st.builds(m.Officer, name=text, designation=opt(text), telephone=opt(text),
                    email=opt(text), authority=opt(text))


@st.composite
def enquiries(draw: st.DrawFn) -> m.Enquiry:
    kids = draw(st.lists(child, min_size=1, max_size=4))
    kids = [m.EnquiryChild(**{**c.__dict__, "child_ref": str(i)}) for i, c in enumerate(kids)]
    h = header(legal_basis=draw(opt(text)))
    return m.Enquiry(header=h, enquiry_date=draw(dates), officer=draw(officer),
                     children=tuple(kids))


@st.composite
def replies(draw: st.DrawFn) -> m.Reply:
    outcomes = draw(st.lists(st.builds(m.ChildOutcome, child_ref=text,
                                       outcome=st.sampled_from(list(m.Outcome)),
                                       school=opt(school), comments=opt(text)),
                             min_size=1, max_size=3))
    return m.Reply(header=header(m.MessageType.REPLY, in_reply_to=m.new_id()),
                   date_replied=draw(dates), officer=draw(officer), outcomes=tuple(outcomes),
                   comments=draw(opt(text)))


@st.composite
def referrals(draw: st.DrawFn) -> m.Referral:
    kid = draw(st.builds(m.ReferralChild, surname=text, forename=text, dob=opt(dates),
                         year_group=opt(text), gender=opt(text),
                         looked_after=opt(st.booleans()), ethnicity=opt(text),
                         sen_stage=opt(text), address_while_resident=opt(address),
                         gp_details=opt(text), new_address=opt(address)))
    return m.Referral(header=header(m.MessageType.REFERRAL), referral_date=draw(dates),
                      referrer=draw(st.builds(m.Referrer, name=text, position=opt(text))),
                      child=kid, category=draw(st.sampled_from(list(m.Category))),
                      reason_out_of_provision=draw(opt(text)), last_school=draw(opt(school)),
                      date_last_on_roll=draw(opt(dates)), action_plan=draw(opt(text)),
                      other_details=draw(opt(text)), signed_by=draw(opt(text)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(message=st.one_of(enquiries(), replies(), referrals()))
def test_round_trip_build_sign_verify_parse(pki: Pki, message: m.Message) -> None:
    data = pki.parties["355"].signer.sign(mx.build(message))
    assert verify_and_parse(data, pki.trust("355"), Settings(party="352")) == message


def test_stored_bytes_with_comments_read_as_the_signed_values() -> None:
    """Exclusive C14N does not sign comments, so a comment may be added in transit; reading
    the stored bytes again later must give the values that were verified."""
    data = mx.to_bytes(mx.build(enquiry()))
    data = data.replace(b"<DOB>2014-01-01</DOB>", b"<DOB>2014-0<!-- x -->1-01</DOB>")
    data = data.replace(b"<Surname>Testchild", b"<Surname>Test<?pi x?>child")
    msg = mx.parse(etree.fromstring(data))
    assert msg.children[0].dob == dt.date(2014, 1, 1)  # type: ignore[attr-defined]
    assert msg.children[0].surname == "Testchild"  # type: ignore[attr-defined]
