"""Fuzz targets for the parsers: safe XML, unsigned and signed messages, the CTF reader and
the CSV reader. Each raises only its own error type on any input; the CTF reader, which
works around lxml when it streams, is also checked against a plain parse of the same file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from lxml import etree

from gateway.core import xmlsafe
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto.trust import TrustStore
from gateway.ctf.reader import ctf_schema, read_ctf
from gateway.exchange.inbound import verify_and_parse
from gateway.matching import MatchConfig, MatchInputError
from gateway.matching.records import iter_csv
from gateway.messages import xml as mx
from gateway.messages.load import Limits, load_unsigned
from gateway.messages.schemas import EXAMPLES_DIR
from gateway.testing.ctf import write_ctf
from tests.conftest import Pki, enquiry
from tests.fuzz.conftest import Counter, fuzz_settings
from tests.fuzz.strategies import mutated, tree_mutated, xml_documents

SETTINGS = Settings(party="352")
LIMITS = Limits.of(SETTINGS)
EXAMPLES = sorted(p.read_bytes() for p in EXAMPLES_DIR.glob("*.xml"))


def xml_inputs(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds), xml_documents(), st.binary(max_size=256))


def test_fuzz_xmlsafe_parse(fuzz: Counter) -> None:
    @fuzz_settings()
    @given(xml_inputs(EXAMPLES))
    def run(data: bytes) -> None:
        with fuzz.input(data):
            try:
                root = xmlsafe.parse(data, max_depth=SETTINGS.max_depth,
                                     max_elements=SETTINGS.max_elements)
            except GatewayError:
                return
            assert isinstance(root, etree._Element)

    run()
    fuzz.verdict()


def test_fuzz_load_unsigned(fuzz: Counter) -> None:
    @fuzz_settings()
    @given(xml_inputs(EXAMPLES))
    def run(data: bytes) -> None:
        with fuzz.input(data):
            try:
                message = load_unsigned(data, LIMITS)
            except GatewayError:
                return
            mx.build(message)  # what was read can be written again

    run()
    fuzz.verdict()


@pytest.fixture(scope="module")
def signed_world(pki: Pki) -> tuple[list[bytes], TrustStore]:
    signer = pki.parties["355"].signer
    seeds = [signer.sign(mx.build(enquiry(n=2)))]
    seeds += [signer.sign(etree.fromstring(x)) for x in EXAMPLES]
    return seeds, pki.trust("355")


def test_fuzz_verify_and_parse_mutated_after_signing(fuzz: Counter, signed_world) -> None:
    seeds, trust = signed_world

    @fuzz_settings()
    @given(mutated(seeds))
    def run(data: bytes) -> None:
        with fuzz.input(data):
            try:
                verify_and_parse(data, trust, SETTINGS)
            except GatewayError:
                return

    run()
    fuzz.verdict()


def test_fuzz_verify_and_parse_signed_after_mutating(fuzz: Counter, pki: Pki,
                                                     signed_world) -> None:
    """Mutate the unsigned message, then sign it: the signature verifies, so everything
    behind it (schema, model, sender) sees hostile content."""
    _, trust = signed_world
    signer = pki.parties["355"].signer
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

    seeds = EXAMPLES + [mx.to_bytes(mx.build(enquiry(n=3)))]

    @fuzz_settings(spare=0.05)  # 1-3 % cannot be signed and never reach the target
    @given(tree_mutated(seeds))
    def run(data: bytes) -> None:
        try:
            element = etree.fromstring(data, parser)
            body = signer.sign(element)
        except (etree.XMLSyntaxError, ValueError, TypeError):
            return  # not XML we could sign: the target never sees it
        with fuzz.input(data):
            try:
                verify_and_parse(body, trust, SETTINGS)
            except GatewayError:
                return

    run()
    fuzz.verdict()


def _ctf_seeds(folder: Path) -> list[bytes]:
    seeds = []
    for i, (dest, pupils) in enumerate([(("352", "4001"), 2), (("XXX", "XXXX"), 1)]):
        f = folder / f"seed{i}.xml"
        write_ctf(f, source=("355", "2001"), dest=dest, pupils=pupils, years=1, assessments=2,
                  seed=i)
        seeds.append(f.read_bytes())
    return seeds


ORACLE = etree.XMLParser(no_network=True, load_dtd=False, huge_tree=False)


def _oracle(data: bytes) -> str:
    """What a plain, whole-document parse and validation says of the file."""
    try:
        root = etree.fromstring(data, ORACLE)
    except etree.XMLSyntaxError:
        return "malformed"
    return "valid" if ctf_schema().validate(root) else "invalid"


def test_fuzz_read_ctf(fuzz: Counter) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seeds = _ctf_seeds(folder)
        f = folder / "ctf.xml"

        @fuzz_settings()
        @given(st.one_of(mutated(seeds, max_ops=4), mutated(seeds, max_ops=1)))
        def run(data: bytes) -> None:
            with fuzz.input(data):
                f.write_bytes(data)
                try:
                    info = read_ctf(f, versions=["25.0", "24.0"], max_pupils=50)
                except GatewayError as exc:
                    event(exc.code)
                    if exc.code == "xml-malformed" and b"<!DOCTYPE" not in data:
                        # refused as not well-formed: it must not be
                        assert _oracle(data) == "malformed", exc.detail
                    return
                event("accepted")
                # accepted: a whole-document parse agrees it is well-formed and valid
                assert _oracle(data) == "valid"
                assert info.pupils and all(p.surname and p.forename for p in info.pupils)

        run()
        fuzz.verdict()


CSV_HEADERS = ["record_id", "upn", "former_upn", "surname", "forename", "middle_names", "dob",
               "sex", "postcode", "address", "laestab", "on_roll_from", "on_roll_to",
               "Date of Birth", "GENDER", "first_name", "family_name", "", "x", "record_id"]
CELLS = st.one_of(
    st.text(max_size=12), st.sampled_from(["2015-01-01", "01/02/2015", "2015-02-30", "2015",
                                           "Jan 2015", "31/12/99", "", "\x00", '"', '""', "\n",
                                           "V355200116042", "M30 7LP", "F", "m"]))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(st.sampled_from(CSV_HEADERS), min_size=0, max_size=8))
    rows = draw(st.lists(st.lists(CELLS, max_size=len(header) + 2), max_size=6))

    def cell(c: str) -> str:
        if draw(st.booleans()):
            return '"' + c.replace('"', '""') + '"'
        return c

    sep = draw(st.sampled_from([",", ";", "\t"]))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = eol.join(sep.join(cell(c) for c in row) for row in [header, *rows])
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return draw(st.one_of(st.just(data), mutated([data or b"record_id\n1\n"], max_ops=3),
                          st.binary(max_size=128)))


def test_fuzz_csv_import(fuzz: Counter) -> None:
    config = MatchConfig()
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "records.csv"

        @fuzz_settings()
        @given(csv_files(), st.sampled_from(["reject", "blank"]))
        def run(data: bytes, bad_dates: str) -> None:
            with fuzz.input(data):
                f.write_bytes(data)
                try:
                    records = list(iter_csv(f, "record_id", config, "records",
                                            bad_dates=bad_dates))
                except MatchInputError:
                    return
                for r in records:  # what `records import` does with each record
                    r.to_dict()

        run()
        fuzz.verdict()
