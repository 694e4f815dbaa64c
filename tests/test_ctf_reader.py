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
