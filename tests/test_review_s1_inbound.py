"""Review rev1: valid partner messages misread or refused on the inbound path."""
import datetime as dt

import pytest
from lxml import etree

from gateway.core.config import Settings
from gateway.exchange.inbound import verify_and_parse
from gateway.messages import model as m
from gateway.messages import xml as mx
from tests.conftest import Pki, enquiry, header

NS = "urn:cme-gateway:message:1"


def _verify(pki: Pki, root: etree._Element) -> m.Message:
    data = pki.parties["355"].signer.sign(root)
    return verify_and_parse(data, pki.trust("355"), Settings(party="352"))


@pytest.mark.parametrize("text", [" true", "true\n", "\n      true\n    "])
def test_xs_boolean_with_whitespace_reads_true(pki: Pki, text: str) -> None:
    root = mx.build(m.Referral(
        header=header(m.MessageType.REFERRAL), referral_date=dt.date.today(),
        referrer=m.Referrer("Officer"), category=m.Category.OTHER, other_details="x",
        child=m.ReferralChild("Smith", "Jo", looked_after=True, child_protection_plan=True)))
    for tag in ("LookedAfter", "ChildProtectionPlan"):  # xs:boolean: whitespace collapses
        root.find(f"{{{NS}}}Child/{{{NS}}}{tag}").text = text
    msg = _verify(pki, root)  # the XSD accepts it...
    assert msg.child.child_protection_plan is True  # ...observed: False
    assert msg.child.looked_after is True


@pytest.mark.parametrize("text", ["2014-01-01Z", "2014-01-01+01:00"])
def test_xs_date_with_a_timezone_is_accepted(pki: Pki, text: str) -> None:
    root = mx.build(enquiry())
    root.find(f"{{{NS}}}Child/{{{NS}}}DOB").text = text
    assert _verify(pki, root).children[0].dob == dt.date(2014, 1, 1)  # schema-invalid


def test_redundant_default_namespace_declarations_are_accepted(pki: Pki) -> None:
    text = etree.tostring(mx.build(enquiry(n=100))).decode()
    for tag in ("Child", "Surname", "Forename"):  # a serializer that redeclares per element
        text = text.replace(f"<{tag}>", f'<{tag} xmlns="{NS}">')
    assert len(_verify(pki, etree.fromstring(text)).children) == 100  # too-many-namespaces


def test_an_unreadable_extra_keyinfo_certificate_does_not_hide_the_pinned_one(pki) -> None:
    data = pki.parties["355"].signer.sign(mx.build(enquiry()))
    end = b"</ds:X509Certificate>"
    data = data.replace(end, end + b"<ds:X509Certificate>MAMCAQE=" + end)  # KeyInfo: unsigned
    assert verify_and_parse(data, pki.trust("355"), Settings(party="352"))  # profile error


def test_a_signed_pi_inside_an_nhs_number_is_read_whole(pki: Pki) -> None:
    root = mx.build(enquiry())
    nhs = etree.Element(f"{{{NS}}}NHSNumber")
    nhs.text = "94347"
    pi = etree.ProcessingInstruction("x", "y")
    pi.tail = "65919"  # 9434765919: a valid number; the XSD and the model read it whole
    nhs.append(pi)
    root.find(f"{{{NS}}}Child/{{{NS}}}Gender").addnext(nhs)
    assert _verify(pki, root).children[0].nhs_number == "9434765919"  # nhs-number-invalid


def test_many_distinct_prefixes_or_a_flood_of_declarations_is_still_refused(pki) -> None:
    from gateway.core import xmlsafe
    from gateway.core.errors import GatewayError

    many = " ".join(f'xmlns:p{i}="urn:x:{i}"' for i in range(300))
    flood = " ".join(f'xmlns:p{i}="urn:x:{i}"' for i in range(200))
    for doc in (f"<a {many}/>",  # 300 distinct prefixes on one element
                "<a>" + f"<b {flood}/>" * 10 + "</a>"):  # 200 prefixes again on each element
        with pytest.raises(GatewayError) as info:
            xmlsafe.parse(doc.encode(), max_depth=10, max_elements=100)
        assert info.value.code == "xml-too-many-namespaces"
