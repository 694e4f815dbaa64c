"""CLI, CSV input policing, configuration, school age and the health/roll cross-check."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli.matching import add_cli, crosscheck_files, match_files
from gateway.matching import MatchConfig, MatchInputError
from gateway.matching.normalise import PartialDate
from gateway.matching.records import read_csv
from gateway.matching.school_age import csa_end, csa_start, csa_status, is_compulsory_school_age

ROOT = Path(__file__).resolve().parent.parent

RECORDS = """record_id,upn,surname,forename,middle_names,dob,sex,postcode,address,laestab,\
on_roll_from,on_roll_to,extra_column
R1,,Smith-Jones,Alfred,James,2015-03-04,M,LS6 1AB,12 Acacia Road,3834001,2019-09-01,,x
R2,,Smith-Jones,Eleanor,,2017-06-20,F,LS6 1AB,12 Acacia Road,3834001,2021-09-01,,x
R3,,Brown,Jack,,2016-05-10,M,M1 2AB,3 Mill Lane,3524002,2020-09-01,,x
R4,,Brown,Harry,,2016-05-10,M,M1 2AB,3 Mill Lane,3524002,2020-09-01,,x
R5,,Khan,Muhammad,Ali,2014-11-02,M,B8 1QQ,45 Alum Rock Road,3304003,2018-09-01,2023-07-21,x
"""
# Columns in another order, some missing; UK-style dates.
QUERIES = """query_id,forename,surname,dob,postcode
Q1,Alfie,Smith Jones,04/03/2015,ls61ab
Q2,Freddie,Smith-Jones,05/01/2019,LS6 1AB
Q3,Jack,Brown,10/05/2016,M1 2AB
Q4,Charlie,Brown,10/05/2016,M1 2AB
Q5,Mohammed,Khan,2014-11,B8 1QQ
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return (write(tmp_path / "records.csv", RECORDS), write(tmp_path / "queries.csv", QUERIES),
            tmp_path / "out.csv")


def test_match_files_writes_one_row_per_query(files: tuple[Path, Path, Path]) -> None:
    records, queries, out = files
    assert match_files(records, queries, out, MatchConfig()) == 3
    rows = read_rows(out)
    assert list(rows[0]) == ["query_id", "predicted_record_id", "score"]
    assert {r["query_id"]: r["predicted_record_id"] for r in rows} == {
        "Q1": "R1", "Q2": "", "Q3": "R3", "Q4": "", "Q5": "R5"}
    assert all(r["score"] for r in rows)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_match_handler_with_toml_config(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    records, queries, out = files
    config = write(tmp_path / "gateway.toml", "[matching]\nmatch_threshold = 80.0\n")
    args = parse(["match", "--records", str(records), "--queries", str(queries),
                  "--out", str(out), "--config", str(config)])
    assert args.func(args) == 0
    assert all(r["predicted_record_id"] == "" for r in read_rows(out))


def reject(args: argparse.Namespace, capsys: pytest.CaptureFixture[str]) -> str:
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("REJECTED ")
    return err


def test_missing_id_column_is_rejected(files: tuple[Path, Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _, queries, out = files
    bad = write(tmp_path / "bad.csv", "id,surname\n1,Smith\n")
    err = reject(parse(["match", "--records", str(bad), "--queries", str(queries),
                        "--out", str(out)]), capsys)
    assert "records-missing-column:" in err and "record_id" in err
    assert not out.exists()


def test_unreadable_date_is_rejected_without_echoing_it(
        files: tuple[Path, Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    records, _, out = files
    bad = write(tmp_path / "q.csv", "query_id,dob\nQ1,2015-03-04\nQ2,31/02/2015\n")
    err = reject(parse(["match", "--records", str(records), "--queries", str(bad),
                        "--out", str(out), "--strict-dates"]), capsys)
    assert "queries-bad-date:" in err and "row 3" in err and "31/02" not in err
    assert not out.exists()


def test_unreadable_date_of_birth_is_read_as_missing_and_listed(
        files: tuple[Path, Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    records, _, out = files
    bad = write(tmp_path / "q.csv", "query_id,forename,surname,dob,postcode\n"
                "Q1,Alfred,Smith-Jones,31/02/2015,LS6 1AB\n"
                "Q2,Jack,Brown,10/05/2016,M1 2AB\n"
                "Q3,Jack,Brown,05/10/16,M1 2AB\n")
    args = parse(["match", "--records", str(records), "--queries", str(bad),
                  "--out", str(out)])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING queries-bad-date:")
    assert "2 row(s)" in err and "rows 2, 4" in err and "31/02" not in err
    rows = {r["query_id"]: r for r in read_rows(out)}
    assert list(rows) == ["Q1", "Q2", "Q3"]  # every query has its row
    assert rows["Q2"]["predicted_record_id"] == "R3"
    assert rows["Q1"]["score"]  # scored on the other fields


def test_a_bad_roll_date_still_rejects_the_file(tmp_path: Path) -> None:
    # Read as missing, a leaving date would put a child who left back on the roll.
    rolls = write(tmp_path / "r.csv", "record_id,dob,on_roll_to\nR1,2015-03-04,31/06/2024\n")
    with pytest.raises(MatchInputError) as exc:
        read_csv(rolls, "record_id", MatchConfig(), bad_dates="blank")
    assert exc.value.code == "records-bad-date" and "on_roll_to" in exc.value.sentence


def test_headings_are_read_case_insensitively_with_common_aliases(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", "Query ID,First_Name,Last Name,Date of Birth,Gender,"
                 "Post-Code,Forename\nQ1,Ignored,Smith,04/03/2015,2,ls6 1ab,Amy\n")
    (rec,) = read_csv(path, "query_id", MatchConfig(), kind="queries")
    # "Forename" is present, so the First_Name alias is not used in its place.
    assert (rec.record_id, rec.forename, rec.surname, rec.sex, rec.postcode) == (
        "Q1", "Amy", "Smith", "2", "ls6 1ab")
    assert rec.dob == PartialDate(2015, 3, 4)


@pytest.mark.parametrize("header", [
    "record_id,first_name,given_name", "record_id,date_of_birth,birth_date",
    "record_id,surname,SURNAME", "record_id,Record ID",
])
def test_two_columns_for_one_field_are_refused(tmp_path: Path, header: str) -> None:
    path = write(tmp_path / "r.csv", f"{header}\nR1,a,b\n")
    with pytest.raises(MatchInputError) as exc:
        read_csv(path, "record_id", MatchConfig())
    assert exc.value.code == "records-duplicate-column"


def test_repeated_unknown_columns_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "record_id,notes,forename,Notes,\nR1,a,Amy,b,\n")
    assert [r.forename for r in read_csv(path, "record_id", MatchConfig())] == ["Amy"]


def test_an_extra_cell_is_refused_even_when_empty(tmp_path: Path) -> None:
    # With one cell too many, the values after it may have slid into the wrong columns.
    for text in ("record_id,forename\nR1,Amy,\n", "record_id,forename\nR1,Amy,Smith\n"):
        path = write(tmp_path / "r.csv", text)
        with pytest.raises(MatchInputError) as exc:
            read_csv(path, "record_id", MatchConfig())
        assert exc.value.code == "records-bad-row"


def test_a_missing_date_of_birth_column_is_warned_about(
        files: tuple[Path, Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    records, _, out = files
    queries = write(tmp_path / "q.csv", "query_id,forename,surname,birthday\n"
                    "Q1,Jack,Brown,10/05/2016\n")
    args = parse(["match", "--records", str(records), "--queries", str(queries),
                  "--out", str(out)])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING queries-column-missing: q.csv has no dob column")
    assert [r["query_id"] for r in read_rows(out)] == ["Q1"]


def test_too_many_rows_and_too_big(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    records, queries, out = files
    with pytest.raises(MatchInputError) as exc:
        match_files(records, queries, out, MatchConfig(max_rows=3))
    assert exc.value.code == "records-too-many-rows"
    with pytest.raises(MatchInputError) as exc:
        match_files(records, queries, out, MatchConfig(max_file_bytes=100))
    assert exc.value.code == "records-too-big"


def test_duplicate_ids_and_bad_config(files: tuple[Path, Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    records, queries, out = files
    dup = write(tmp_path / "dup.csv", "record_id,forename\nR1,A\nR1,B\n")
    with pytest.raises(MatchInputError) as exc:
        read_csv(dup, "record_id", MatchConfig())
    assert exc.value.code == "records-duplicate-id"
    cfg = write(tmp_path / "g.toml", "[matching]\nmatch_treshold = 3\n")  # misspelt
    err = reject(parse(["match", "--records", str(records), "--queries", str(queries),
                        "--out", str(out), "--config", str(cfg)]), capsys)
    assert "config-invalid" in err and "match_treshold" in err


def test_module_entry_point(files: tuple[Path, Path, Path]) -> None:
    records, queries, out = files
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.matching", "match", "--records", str(records),
         "--queries", str(queries), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(read_rows(out)) == 5
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.matching", "match", "--records", "/nonexistent.csv",
         "--queries", str(queries), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("REJECTED records-unreadable:")


def test_config_from_dict() -> None:
    cfg = MatchConfig.from_dict({"match_threshold": 3, "max_rows": "10",
                                 "weights": {"dob": {"exact": [0.9, 0.0002]}}})
    assert cfg.match_threshold == 3.0 and cfg.max_rows == 10
    assert cfg.weights["dob"]["exact"] == (0.9, 0.0002)
    assert cfg.weights["forename"] == MatchConfig().weights["forename"]
    with pytest.raises(ValueError):
        MatchConfig.from_dict({"weights": {"dob": {"nonsense": [0.5, 0.5]}}})
    with pytest.raises(ValueError):
        MatchConfig.from_dict({"match_threshold": -20, "possible_threshold": 0})


# -- compulsory school age ------------------------------------------------------------

@pytest.mark.parametrize(("dob", "start"), [
    ("2019-09-01", "2024-12-31"),  # 5 on 1 Sep: next prescribed day is 31 Dec
    ("2019-12-31", "2024-12-31"),  # 5 on a prescribed day: starts that day
    ("2020-01-01", "2025-03-31"),
    ("2020-04-01", "2025-08-31"),
    ("2016-02-29", "2021-03-31"),  # leap-day birthday counts from 1 March
])
def test_csa_start(dob: str, start: str) -> None:
    assert csa_start(dt.date.fromisoformat(dob)) == dt.date.fromisoformat(start)


@pytest.mark.parametrize(("dob", "end"), [
    ("2009-08-31", "2025-06-27"),  # 16 on 31 Aug 2025: school year 2024/25
    ("2009-09-01", "2026-06-26"),  # 16 on 1 Sep 2025: school year 2025/26
    ("2010-07-15", "2026-06-26"),  # 16 after the leaving date, same school year
])
def test_csa_end_last_friday_of_june(dob: str, end: str) -> None:
    got = csa_end(dt.date.fromisoformat(dob))
    assert got == dt.date.fromisoformat(end) and got.weekday() == 4


def test_csa_status_with_partial_dates() -> None:
    as_of = dt.date(2025, 1, 15)
    assert is_compulsory_school_age(dt.date(2015, 3, 4), as_of)
    assert not is_compulsory_school_age(dt.date(2021, 3, 4), as_of)
    assert csa_status(PartialDate(2015), as_of) == "yes"
    assert csa_status(PartialDate(2023), as_of) == "no"
    # Born January to March 2020: of school age from 31 March 2025; later in 2020: not yet.
    assert csa_status(PartialDate(2020), dt.date(2025, 4, 10)) == "unknown"
    assert csa_status(PartialDate(2020, 3), dt.date(2025, 4, 10)) == "yes"
    assert csa_status(None, as_of) == "unknown"


# -- cross-check ----------------------------------------------------------------------

HEALTH = """record_id,surname,forename,dob,sex,postcode
H1,Smith-Jones,Alfie,2015-03-04,M,LS61AB
H2,Smith-Jones,Freddie,2016-01-05,M,LS6 1AB
H3,Smith-Jones,Baby,2023-05-01,F,LS6 1AB
H4,Khan,Mohammed,2014-11-02,M,B8 1QQ
H5,Nowak,Zofia,2013,F,E1 6AN
H6,Adeyemi,Tobi,2005-02-02,M,E1 6AN
"""


def test_crosscheck_lists_school_age_children_on_no_roll(tmp_path: Path) -> None:
    rolls = write(tmp_path / "rolls.csv", RECORDS)
    health = write(tmp_path / "health.csv", HEALTH)
    out = tmp_path / "out.csv"
    n = crosscheck_files(health, rolls, out, dt.date(2025, 1, 15))
    rows = {r["health_record_id"]: r for r in read_rows(out)}
    assert n == len(rows) == 3
    # H1 is on a roll; H3 is too young; H6 is past school age.
    assert rows["H2"]["reason"] == "not-on-any-roll"
    # The nearest candidate for the unmatched brother is reported for review, not matched.
    assert rows["H2"]["candidate_1_record_id"] in {"R1", "R2"}
    assert rows["H2"]["candidate_1_band"] != "match"
    assert rows["H4"]["reason"] == "left-roll"  # R5's on_roll_to has passed
    assert rows["H4"]["candidate_1_record_id"] == "R5"
    assert rows["H5"]["reason"] == "not-on-any-roll"
    assert list(rows["H2"])[:5] == ["health_record_id", "reason", "candidate_1_record_id",
                                    "candidate_1_score", "candidate_1_band"]


def test_crosscheck_handler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rolls = write(tmp_path / "rolls.csv", RECORDS)
    health = write(tmp_path / "health.csv", HEALTH)
    out = tmp_path / "out.csv"
    args = parse(["crosscheck", "--health", str(health), "--rolls", str(rolls),
                  "--out", str(out), "--as-of", "2025-01-15"])
    assert args.func(args) == 0
    args = parse(["crosscheck", "--health", str(health), "--rolls", str(rolls),
                  "--out", str(out), "--as-of", "15/01/2025"])
    assert "REJECTED bad-as-of:" in reject(args, capsys)


def test_match_with_worker_processes_gives_the_same_file(tmp_path: Path) -> None:
    from gateway.testing.synth import generate

    data = generate(3000, 1000, seed=21)
    cols = ["upn", "surname", "forename", "middle_names", "dob", "sex", "postcode", "address"]

    def dump(path: Path, id_col: str, recs: list) -> Path:  # type: ignore[type-arg]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([id_col, *cols])
            for r in recs:
                dob = "" if r.dob is None else "-".join(
                    f"{v:02d}" for v in (r.dob.year, r.dob.month, r.dob.day) if v)
                w.writerow([r.record_id, r.upn, r.surname, r.forename, r.middle_names, dob,
                            r.sex, r.postcode, r.address])
        return path

    records = dump(tmp_path / "r.csv", "record_id", data.records)
    queries = dump(tmp_path / "q.csv", "query_id", data.queries)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    n1 = match_files(records, queries, one, MatchConfig(), workers=1)
    args = parse(["match", "--records", str(records), "--queries", str(queries),
                  "--out", str(two), "--workers", "2"])
    assert args.func(args) == 0
    assert one.read_bytes() == two.read_bytes()
    assert n1 > 500
    with pytest.raises(SystemExit):
        parse(["match", "--records", "r", "--queries", "q", "--out", "o", "--workers", "0"])
