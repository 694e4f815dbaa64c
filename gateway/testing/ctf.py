"""A realistic synthetic CTF generator, for tests and benchmarks.

UK names (the matching generator's frequency lists), valid UPNs (python-stdnum check letters,
the LA code and establishment of the issuing school), BS7666 addresses with plausible
postcodes, contacts, several years of attendance (with the session-by-session marks string
that makes real CTFs large) and key stage assessments. Written incrementally with
``lxml.etree.xmlfile``, so a 50 MB file needs no big tree in memory. Deterministic per seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from lxml import etree
from stdnum.gb import upn as stdnum_upn

from gateway.testing.synth_names import GROUPS, POSTCODE_AREAS, STREET_TYPES, STREETS

MARKS = "////\\\\\\\\" * 3 + "LBNMIC"  # present marks dominate, a few codes for absence


def make_upn(lea: str, estab: str, year: int, serial: int) -> str:
    body = f"{lea}{estab}{year % 100:02d}{serial % 1000:03d}"
    return stdnum_upn.calc_check_digit(body) + body


@dataclass(frozen=True)
class Pupil:
    upn: str
    surname: str
    forename: str
    dob: date
    sex: str
    postcode: str
    former_upn: str | None = None


def _postcode(rng: random.Random) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return (f"{rng.choice(POSTCODE_AREAS)}{rng.randint(1, 30)} {rng.randint(1, 9)}"
            f"{rng.choice(letters)}{rng.choice(letters)}")


def make_pupil(rng: random.Random, lea: str, estab: str, serial: int) -> Pupil:
    groups = list(GROUPS.items())
    _, (_, boys, girls, surnames) = rng.choices(groups, weights=[g[1][0] for g in groups])[0]
    boys, girls, surnames = tuple(boys), tuple(girls), tuple(surnames)
    sex = rng.choice("MF")
    dob = date(2010, 9, 1) + timedelta(days=rng.randint(0, 365 * 6))
    return Pupil(upn=make_upn(lea, estab, dob.year + 4, serial), surname=rng.choice(surnames),
                 forename=rng.choice(boys if sex == "M" else girls), dob=dob, sex=sex,
                 postcode=_postcode(rng))


def _el(xf: etree.xmlfile, tag: str, text: object) -> None:
    el = etree.Element(tag)
    el.text = str(text)
    xf.write(el)


def _pupil_element(p: Pupil, rng: random.Random, years: int, assessments: int) -> etree._Element:
    pupil = etree.Element("Pupil")
    for tag, value in (("UPN", p.upn), ("Surname", p.surname), ("Forename", p.forename),
                       ("DOB", p.dob.isoformat()), ("Sex", p.sex)):
        etree.SubElement(pupil, tag).text = value
    basic = etree.SubElement(pupil, "BasicDetails")
    if p.former_upn:
        etree.SubElement(basic, "FormerUPN").text = p.former_upn
    etree.SubElement(basic, "NCyearActual").text = str(max(1, min(11, 2026 - p.dob.year - 5)))
    etree.SubElement(basic, "Ethnicity").text = rng.choice(["WBRI", "WOTH", "APKN", "BAFR",
                                                            "AIND", "MWBC", "WPOL"])
    etree.SubElement(basic, "EnrolStatus").text = "C"
    looked = etree.SubElement(pupil, "LookedAfter")
    etree.SubElement(looked, "InCare").text = rng.choice(["false"] * 19 + ["true"])
    address = etree.SubElement(pupil, "Address")
    bs = etree.SubElement(address, "BS7666Address")
    etree.SubElement(bs, "PAON").text = str(rng.randint(1, 250))
    etree.SubElement(bs, "Street").text = f"{rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    etree.SubElement(bs, "Town").text = "Salford"
    etree.SubElement(bs, "PostCode").text = p.postcode
    contacts = etree.SubElement(pupil, "Contacts")
    for order in (1, 2):
        c = etree.SubElement(contacts, "Contact")
        etree.SubElement(c, "Order").text = str(order)
        etree.SubElement(c, "Surname").text = p.surname
        names: tuple[str, ...] = GROUPS["british"][1 + order % 2]  # type: ignore[assignment]
        etree.SubElement(c, "Forename").text = rng.choice(names)
        etree.SubElement(c, "Relationship").text = "PAR"
        etree.SubElement(c, "Responsibility").text = "true"
        phone = etree.SubElement(etree.SubElement(c, "Phones"), "Phone")
        etree.SubElement(phone, "TelephoneType").text = "M"
        etree.SubElement(phone, "PhoneNo").text = f"07{rng.randint(100000000, 999999999)}"
    attendance = etree.SubElement(pupil, "Attendance")
    for y in range(years):
        yd = etree.SubElement(attendance, "YearData")
        etree.SubElement(yd, "Year").text = str(2025 - y)
        etree.SubElement(yd, "SessionsPossible").text = "380"
        etree.SubElement(yd, "SessionsAuthorised").text = str(rng.randint(0, 20))
        etree.SubElement(yd, "SessionsUnauthorised").text = str(rng.randint(0, 10))
        etree.SubElement(yd, "AttendanceStartDate").text = f"{2025 - y}-09-03"
        etree.SubElement(yd, "SessionAttendance").text = "".join(
            rng.choice(MARKS) for _ in range(380))
    stages = etree.SubElement(pupil, "StageAssessments")
    ks = etree.SubElement(stages, "KeyStage")
    etree.SubElement(ks, "Stage").text = "KS2"
    for i in range(assessments):
        sa = etree.SubElement(ks, "StageAssessment")
        for tag, value in (("Locale", "ENG"), ("Year", str(2020 + i % 6)),
                           ("Subject", rng.choice(["MAT", "ENG", "SCI", "REA", "WRI", "GPS"])),
                           ("Method", rng.choice(["TT", "TA"])), ("Component", "MTC"),
                           ("ResultStatus", "R"), ("ResultQualifier", "MT"),
                           ("Result", str(rng.randint(80, 120)))):
            etree.SubElement(sa, tag).text = value
    history = etree.SubElement(pupil, "SchoolHistory")
    school = etree.SubElement(history, "School")
    etree.SubElement(school, "LAestab").text = "3552001"
    etree.SubElement(school, "SchoolName").text = "Peel Green Primary School"
    etree.SubElement(school, "EntryDate").text = f"{p.dob.year + 4}-09-01"
    return pupil


def write_ctf(path: Path, *, source: tuple[str, str], dest: tuple[str, str],
              pupils: list[Pupil] | int = 1, version: str = "25.0", seed: int = 0,
              years: int = 7, assessments: int = 65,
              when: datetime | None = None) -> list[Pupil]:
    """Write a CTF to ``path`` and return its pupils. ``pupils`` may be a count or a list."""
    rng = random.Random(seed)
    if isinstance(pupils, int):
        pupils = [make_pupil(rng, source[0], source[1], i) for i in range(pupils)]
    when = when or datetime(2026, 11, 27, 10, 30)
    with etree.xmlfile(str(path), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("CTfile"):
            with xf.element("Header"):
                _el(xf, "DocumentName", "Common Transfer File")
                _el(xf, "CTFversion", version)
                _el(xf, "DateTime", when.strftime("%Y-%m-%dT%H:%M:%S"))
                _el(xf, "DocumentQualifier", "full")
                _el(xf, "SupplierID", "CME Gateway test generator")
                for tag, (lea, estab) in (("SourceSchool", source), ("DestSchool", dest)):
                    school = etree.Element(tag)
                    etree.SubElement(school, "LEA").text = lea
                    etree.SubElement(school, "Estab").text = estab
                    if estab.isdigit():
                        etree.SubElement(school, "SchoolName").text = f"School {lea}{estab}"
                        etree.SubElement(school, "AcademicYear").text = "2026"
                    xf.write(school)
            with xf.element("CTFpupilData"):
                for p in pupils:
                    xf.write(_pupil_element(p, rng, years, assessments))
    return pupils


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="write a synthetic CTF")
    ap.add_argument("out")
    ap.add_argument("--pupils", type=int, default=1)
    ap.add_argument("--source", default="355/2001", help="LEA/Estab")
    ap.add_argument("--dest", default="352/4001", help="LEA/Estab, XXX/XXXX or MMM/MMMM")
    ap.add_argument("--version", default="25.0")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    src = tuple(args.source.split("/"))
    dst = tuple(args.dest.split("/"))
    write_ctf(Path(args.out), source=src, dest=dst, pupils=args.pupils,  # type: ignore[arg-type]
              version=args.version, seed=args.seed)
    print(f"wrote {args.out}")
    return 0
