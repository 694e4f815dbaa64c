"""The streaming CTF reader against hostile structure: hidden headers and pupils, and element
bombs inside one pupil's data sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.errors import GatewayError
from gateway.ctf.reader import read_ctf
from gateway.testing.ctf import write_ctf

HEADER = ("<Header><DocumentName>Common Transfer File</DocumentName><CTFversion>25.0"
          "</CTFversion><DateTime>2026-11-27T10:00:00</DateTime><DocumentQualifier>full"
          "</DocumentQualifier><SupplierID>x</SupplierID><SourceSchool><LEA>{0}</LEA><Estab>{1}"
          "</Estab></SourceSchool><DestSchool><LEA>352</LEA><Estab>1234</Estab></DestSchool>"
          "</Header>")
PUPIL = "<Pupil><Surname>A</Surname><Forename>B</Forename><DOB>2015-01-01</DOB>{0}</Pupil>"


def read(path: Path, **kw: int) -> object:
    return read_ctf(path, versions=["25.0", "24.0"], max_pupils=100, **kw)


def code(path: Path, **kw: int) -> str:
    with pytest.raises(GatewayError) as info:
        read(path, **kw)
    return info.value.code


def test_a_header_hidden_in_a_data_section_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    hidden = "<BasicDetails>" + HEADER.format("352", "4001") + "</BasicDetails>"
    f.write_text("<CTfile>" + HEADER.format("353", "4001") + "<CTFpupilData>" +
                 PUPIL.format("") + PUPIL.format(hidden) + "</CTFpupilData></CTfile>")
    assert code(f) == "ctf-schema-invalid"


def test_pupils_hidden_in_a_data_section_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    hidden = "<Contacts>" + PUPIL.format("") * 3 + "</Contacts>"
    f.write_text("<CTfile>" + HEADER.format("353", "4001") + "<CTFpupilData>" +
                 PUPIL.format(hidden) + "</CTFpupilData></CTfile>")
    assert code(f) == "ctf-schema-invalid"


def test_an_element_bomb_in_one_pupil_is_refused_early(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    f.write_text("<CTfile>" + HEADER.format("353", "4001") + "<CTFpupilData>" +
                 PUPIL.format("<Attendance>" + "<a/>" * 30_000 + "</Attendance>") +
                 "</CTFpupilData></CTfile>")
    assert code(f) == "ctf-too-many-elements"
    assert code(f, max_elements=1000) == "ctf-too-many-elements"


def test_real_pupils_fit_well_inside_the_element_limit(tmp_path: Path) -> None:
    f = tmp_path / "ok.xml"
    write_ctf(f, source=("355", "2001"), dest=("352", "4001"), pupils=3)
    assert len(read(f).pupils) == 3  # type: ignore[attr-defined]
    assert code(f, max_elements=100) == "ctf-too-many-elements"


# ---- the outside security review, item 4: amplification by attributes and by tiny elements ---

def ctf_of(*pupils: str) -> str:
    return ("<CTfile>" + HEADER.format("353", "4001") + "<CTFpupilData>" + "".join(pupils) +
            "</CTFpupilData></CTfile>")


def test_an_element_with_too_many_attributes_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    attrs = " ".join(f'a{i}="x"' for i in range(1000))
    f.write_text(ctf_of(PUPIL.format(f"<Attendance {attrs}/>")))
    assert code(f) == "ctf-too-many-attributes"
    few = " ".join(f'a{i}="x"' for i in range(4))
    f.write_text(ctf_of(PUPIL.format(f"<Attendance {few}/>")))
    assert len(read(f).pupils) == 1  # type: ignore[attr-defined]
    assert code(f, max_attributes_per_element=3) == "ctf-too-many-attributes"


def test_attributes_and_namespace_declarations_are_counted_in_total(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    many = "<Attendance>" + '<a x="1" y="2"/>' * 300 + "</Attendance>"
    f.write_text(ctf_of(*[PUPIL.format(many)] * 4))  # 2,400 attributes, 2 per element
    assert len(read(f).pupils) == 4  # type: ignore[attr-defined]
    assert code(f, max_attributes=2000) == "ctf-too-many-attributes"
    # namespace declarations are attributes to the parser's memory, if not to the tree
    decls = "<Attendance>" + "".join(f'<a xmlns:p{i}="urn:x"/>' for i in range(300)) + \
        "</Attendance>"
    f.write_text(ctf_of(*[PUPIL.format(decls)] * 4))
    assert len(read(f).pupils) == 4  # type: ignore[attr-defined]
    assert code(f, max_attributes=1000) == "ctf-too-many-attributes"


def test_the_file_as_a_whole_has_an_element_limit(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    section = "<Attendance>" + "<a/>" * 900 + "</Attendance>"  # each pupil under its limit
    f.write_text(ctf_of(*[PUPIL.format(section)] * 20))
    assert len(read(f).pupils) == 20  # type: ignore[attr-defined]
    assert code(f, max_total_elements=10_000) == "ctf-file-too-many-elements"


def test_processing_instructions_are_not_kept(tmp_path: Path) -> None:
    """A PI is a node of the tree but no element: uncounted, 30,000 of them would stay in
    one pupil's tree. The reader drops them as it drops comments."""
    from lxml import etree

    from gateway.ctf import reader

    f = tmp_path / "x.xml"
    f.write_text(ctf_of(PUPIL.format("<Attendance>" + "<?a?>" * 30_000 + "</Attendance>")))
    seen: list[int] = []
    real = reader._pupil

    def spy(el: etree._Element, index: int) -> reader.PupilInfo:
        seen.append(len(el.xpath("//processing-instruction()")))
        return real(el, index)

    reader._pupil = spy  # type: ignore[assignment]
    try:
        assert len(read(f).pupils) == 1  # type: ignore[attr-defined]
    finally:
        reader._pupil = real  # type: ignore[assignment]
    assert seen == [0]


def test_real_ctfs_fit_the_default_limits(tmp_path: Path) -> None:
    f = tmp_path / "ok.xml"
    write_ctf(f, source=("355", "2001"), dest=("352", "4001"), pupils=30)
    assert len(read_ctf(f, versions=["25.0"], max_pupils=5000).pupils) == 30


def test_at_most_the_configured_number_of_checks_run_at_once(tmp_path: Path) -> None:
    import threading
    import time

    from gateway.ctf import reader

    f = tmp_path / "ok.xml"
    write_ctf(f, source=("355", "2001"), dest=("352", "4001"), pupils=1)
    lock = threading.Lock()
    running, peak = [0], [0]
    real = reader._check_head

    def slow(path: Path) -> None:  # the first step of a check, inside the slot
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        real(path)

    reader._check_head = slow  # type: ignore[assignment]
    try:
        threads = [threading.Thread(target=read_ctf, args=(f,), kwargs={
            "versions": ["25.0"], "max_pupils": 10, "max_concurrent": 2}) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        reader._check_head = real  # type: ignore[assignment]
    assert peak[0] == 2


async def test_the_hub_and_the_cli_pass_every_limit(tmp_path: Path, monkeypatch) -> None:
    from gateway.cli.main import main
    from gateway.core.config import Settings
    from gateway.core.files import file_digest
    from gateway.crypto import keys as k
    from gateway.crypto.dsig import Signer
    from gateway.ctf import reader
    from gateway.exchange.gateway import Gateway
    from gateway.hub import transfers
    from gateway.messages import model as m
    from gateway.messages import xml as mx
    from tests.conftest import make_home

    calls: list[dict[str, object]] = []

    def spy(path: Path, **kw: object) -> object:
        calls.append(kw)
        raise GatewayError("ctf-no-pupils")

    f = tmp_path / "ok.xml"
    write_ctf(f, source=("355", "2001"), dest=("352", "4001"), pupils=1)
    import gateway.cli.ctf as cli_ctf

    monkeypatch.setattr(reader, "read_ctf", spy)  # however the command imports it
    monkeypatch.setattr(cli_ctf, "read_ctf", spy, raising=False)
    assert main(["ctf", "check", str(f)]) == 1
    assert calls, "ctf check did not call read_ctf"
    cli_s = Settings(party="S2S")

    hub = make_home(tmp_path, "S2S", role="hub", extra="max_ctf_elements = 123456\n"
                    "max_ctf_attributes_per_element = 7\nmax_ctf_attributes = 999\n"
                    "max_concurrent_ctf_checks = 3\n")
    school = make_home(tmp_path, "3552001")
    hub.trust(school)
    digest, size = file_digest(f)
    h = m.Header(m.new_id(), m.new_id(), m.utcnow(), "3552001", "S2S", m.MessageType.TRANSFER)
    signer = Signer(k.load_private_key(school.path / "keys/gateway.key"),
                    k.load_certificate(school.path / "keys/gateway.pem"))
    env = signer.sign(mx.build(m.Transfer(header=h, purpose=m.Purpose.DELIVER,
                                          payload=m.Payload(digest, size))))
    monkeypatch.setattr(transfers, "read_ctf", spy)
    gw = await Gateway.open(hub.settings())
    try:
        with pytest.raises(GatewayError):
            await transfers.receive_transfer(gw, env, transfers.check_envelope(gw, env), f,
                                             digest, size)
    finally:
        await gw.close()
    assert len(calls) == 2
    for kw, s in zip(calls, (cli_s, hub.settings()), strict=True):
        assert kw["max_total_elements"] == s.max_ctf_elements
        assert kw["max_attributes_per_element"] == s.max_ctf_attributes_per_element
        assert kw["max_attributes"] == s.max_ctf_attributes
        assert kw["max_concurrent"] == s.max_concurrent_ctf_checks
    assert calls[1]["max_total_elements"] == 123456 and calls[1]["max_concurrent"] == 3


# ---- item 10: a truncated CTF, and a pupil with two names or two dates of birth ---------------

GOOD = ctf_of(PUPIL.format(""))


@pytest.mark.parametrize("tail", [
    "<!-- </CTfile>",                     # the review's case: the end tag inside a comment
    "</CTFpupilData><!-- </CTfile>",
    "<![CDATA[</CTfile>",                 # ... inside an unterminated CDATA section
    "<Attendance><?x </CTfile>",          # ... inside an unterminated PI
    '<Attendance a="</CTfile>',            # ... inside an attribute value
    "</CTFpupilData>",                    # simply cut off
    "</CTFpupilData></CTfile",
])
def test_a_truncated_ctf_is_refused(tmp_path: Path, tail: str) -> None:
    f = tmp_path / "x.xml"
    cut = GOOD[: GOOD.index("</CTFpupilData>")]
    f.write_text(cut + tail + "\n")
    assert code(f) == "xml-malformed"


@pytest.mark.parametrize("body", [
    "<Attendance><x:a/></Attendance>",     # a prefix never declared
    '<Attendance x:b="1"/>',
    "<Attendance><a></b></Attendance>",
    '<Attendance a="1" a="2"/>',
    "<Attendance>&undefined;</Attendance>",
    "<Attendance>\x01</Attendance>",
])
def test_a_ctf_that_is_not_well_formed_is_refused(tmp_path: Path, body: str) -> None:
    f = tmp_path / "x.xml"
    f.write_text(ctf_of(PUPIL.format(body)))
    assert code(f) == "xml-malformed"


def test_a_well_formed_ctf_may_end_with_a_comment_or_whitespace(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    f.write_text(GOOD + "<!-- exported by MIS -->\n\n")
    assert len(read(f).pupils) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("extra", [
    "<Surname>C</Surname>", "<Forename>C</Forename>", "<DOB>2016-01-01</DOB>",
    "<UPN>A</UPN><UPN>B</UPN>", "<Sex>M</Sex><Sex>F</Sex>", "<Sex>M</Sex><Gender>F</Gender>",
    "<BasicDetails><FormerUPN>A</FormerUPN><FormerUPN>B</FormerUPN></BasicDetails>",
    "<BasicDetails><FormerUPN>A</FormerUPN></BasicDetails>"
    "<BasicDetails><FormerUPN>B</FormerUPN></BasicDetails>",
    "<Address><BS7666Address><PostCode>M1 1AA</PostCode></BS7666Address></Address>"
    "<Address><BS7666Address><PostCode>M2 2BB</PostCode></BS7666Address></Address>",
    "<Address><BS7666Address><PostCode>M1 1AA</PostCode></BS7666Address>"
    "<PostCode>M2 2BB</PostCode></Address>",
])
def test_a_pupil_with_an_identity_field_twice_is_refused(tmp_path: Path, extra: str) -> None:
    f = tmp_path / "x.xml"
    f.write_text(ctf_of(PUPIL.format(extra)))
    with pytest.raises(GatewayError) as info:
        read(f)
    assert info.value.code == "ctf-pupil-duplicate-field"
    assert info.value.detail and "pupil 1" in info.value.detail


def test_names_elsewhere_in_a_pupil_are_not_identity_fields(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    contacts = ("<Contacts><Contact><Surname>X</Surname></Contact><Contact><Surname>Y"
                "</Surname></Contact></Contacts><UPN>A</UPN>")
    f.write_text(ctf_of(PUPIL.format(contacts)))
    assert len(read(f).pupils) == 1  # type: ignore[attr-defined]


# ---- item 9, the CTF part: schema error details never carry a value --------------------------

SECRET = "O'Brien-Smith' 'Secret"


@pytest.mark.parametrize("pupil", [
    f"<Pupil><Surname>A</Surname><Forename>B</Forename><DOB>{SECRET}</DOB></Pupil>",
    f"<Pupil><Surname>{SECRET * 30}</Surname><Forename>B</Forename><DOB>2015-01-01</DOB>"
    "</Pupil>",
    f"<Pupil><Surname>{SECRET}</Surname><Forename>B</Forename><DOB>2015-01-01</DOB>"
    f"<Nonsense>{SECRET}</Nonsense></Pupil>",
])
def test_schema_error_details_hold_no_value(tmp_path: Path, pupil: str, capsys) -> None:
    from gateway.cli.main import main

    f = tmp_path / "x.xml"
    f.write_text(ctf_of(pupil))
    with pytest.raises(GatewayError) as info:
        read(f)
    assert info.value.code == "ctf-schema-invalid"
    detail = info.value.detail or ""
    assert "SCHEMAV_" in detail or detail == "pupil 1: DOB is not a date (YYYY-MM-DD)"
    assert main(["ctf", "check", str(f)]) == 1
    out = capsys.readouterr().out
    for text in (detail, out):
        for part in ("Brien", "Smith", "Secret", "O'"):
            assert part not in text, text


def test_a_schema_error_names_the_element_the_schema_knows(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    f.write_text(ctf_of(f"<Pupil><Surname>{SECRET * 30}</Surname><Forename>B</Forename>"
                        "<DOB>2015-01-01</DOB></Pupil>"))
    with pytest.raises(GatewayError) as info:
        read(f)
    assert info.value.detail == "SCHEMAV_CVC_MAXLENGTH_VALID at Surname"
    f.write_text(ctf_of(f"<Pupil><Surname>A</Surname><Forename>B</Forename><DOB>2015-01-01"
                        f"</DOB><{SECRET[2:7]}/></Pupil>"))
    with pytest.raises(GatewayError) as info:
        read(f)
    assert info.value.detail == ("SCHEMAV_ELEMENT_CONTENT at an element the CTF schema does "
                                 "not define")


@pytest.mark.parametrize("shape", ["flat", "deep"])
def test_counts_across_chunks_are_exact(tmp_path: Path, shape: str) -> None:
    """One pupil over many 64 KiB chunks, counted as it grows: exactly at the limits it is
    accepted, one under them it is refused (while it is read, or at its end)."""
    f = tmp_path / "x.xml"
    if shape == "flat":
        section = "<Attendance>" + '<a x="1" y="2">texttext</a>' * 9000 + "</Attendance>"
    else:  # chains as deep as libxml2 allows, so new elements arrive under old ones
        chain = "<a x='1'>" * 200 + "t" * 5000 + "</a>" * 200
        section = "<Attendance>" + chain * 45 + "</Attendance>"
    f.write_text(ctf_of(PUPIL.format(section)))
    assert f.stat().st_size > 3 * 65536
    elements = 1 + 3 + 1 + (9000 if shape == "flat" else 9000)  # Pupil, 3 fields, section
    attributes = 18_000 if shape == "flat" else 9000
    total = elements + 14  # the root, the header (12 elements), CTFpupilData
    limits = {"max_elements": elements, "max_attributes": attributes,
              "max_total_elements": total}
    assert len(read(f, **limits).pupils) == 1  # type: ignore[attr-defined]
    for name, code_ in (("max_elements", "ctf-too-many-elements"),
                        ("max_attributes", "ctf-too-many-attributes"),
                        ("max_total_elements", "ctf-file-too-many-elements")):
        assert code(f, **{**limits, name: limits[name] - 1}) == code_, name


@pytest.mark.parametrize("at", [5000, 65536 - 4, 65536 * 2 + 100])
def test_a_doctype_anywhere_is_refused_before_the_parser_sees_it(tmp_path: Path,
                                                                 at: int) -> None:
    """The parser resolves predefined entities (so that lxml reports its errors, see the
    reader's docstring); no entity can be declared because no DTD ever reaches it, wherever
    it stands, across a chunk boundary too."""
    f = tmp_path / "x.xml"
    bomb = ('<!DOCTYPE CTfile [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>')
    body = GOOD.replace("<CTfile>", '<CTfile x="&c;">')
    prolog = "<!--" + " " * (at - 7) + "-->"
    f.write_text(prolog + bomb + body)
    assert f.read_bytes().index(b"<!DOCTYPE") == at
    assert code(f) == "xml-dtd-forbidden"


def test_predefined_entities_and_character_references_are_read(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    f.write_text(ctf_of("<Pupil><Surname>O&apos;Brien &amp; Co</Surname><Forename>&#65;nn"
                        "</Forename><DOB>2015-01-01</DOB></Pupil>"))
    info = read(f)
    assert info.pupils[0].surname == "O'Brien & Co"  # type: ignore[attr-defined]
    assert info.pupils[0].forename == "Ann"  # type: ignore[attr-defined]


# -- dates as MIS exports write them (hand-written CTF review, D1/D2) ----------------------

def _pupil(dob: str) -> str:
    return f"<Pupil><Surname>Smith</Surname><Forename>Jack</Forename><DOB>{dob}</DOB></Pupil>"


@pytest.mark.parametrize("dob", [" 2014-09-01 ", "\n      2014-09-01\n    ", "2014-09-01Z",
                                 "2014-09-01+01:00"])
def test_a_date_with_whitespace_or_a_zone_around_it_is_read(tmp_path: Path, dob: str) -> None:
    """XSD collapses the whitespace of an xs:date; libxml2 does not, so the schema's Date is
    a token with the date's shape and an indented DOB is accepted (and read right)."""
    f = tmp_path / "x.xml"
    f.write_text(ctf_of(_pupil(dob)).replace(
        "<DateTime>2026-11-27T10:00:00</DateTime>",
        "<DateTime>\n   2026-11-27T10:00:00+00:00\n</DateTime>"))
    info = read(f)
    assert str(info.pupils[0].dob) == "2014-09-01"  # type: ignore[attr-defined]
    assert info.created == "2026-11-27T10:00:00+00:00"  # type: ignore[attr-defined]


@pytest.mark.parametrize("dob", ["2014-02-30", "2014-13-01", "2014-06-06T00:00:00",
                                 "2014-6-6", "06/06/2014", "2014-06-06 x"])
def test_a_dob_that_is_not_a_date_names_its_pupil(tmp_path: Path, dob: str) -> None:
    f = tmp_path / "x.xml"
    f.write_text(ctf_of(_pupil("2014-09-01"), _pupil(dob)))
    with pytest.raises(GatewayError) as info:
        read(f)
    assert (info.value.code, info.value.detail) == (
        "ctf-schema-invalid", "pupil 2: DOB is not a date (YYYY-MM-DD)")


@pytest.mark.parametrize("when", ["2026-13-27T10:00:00", "2026-02-30T10:00:00",
                                  "2026-11-27T25:00:00", "2026-11-27"])
def test_a_header_date_time_that_is_not_one_is_refused(tmp_path: Path, when: str) -> None:
    f = tmp_path / "x.xml"
    f.write_text(ctf_of(_pupil("2014-09-01")).replace("2026-11-27T10:00:00", when))
    with pytest.raises(GatewayError) as info:
        read(f)
    assert info.value.code == "ctf-schema-invalid"
    assert "DateTime" in (info.value.detail or "")
