"""Local records in the store, and matching of received enquiries and referrals."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.web.app import inbound_for
from gateway.workflow.matching import MatchWorker
from tests.conftest import ROOT, pair

RECORDS = """record_id,upn,surname,forename,dob,sex,postcode,address,laestab,extra
r1,,Kowalski,Amelia,2015-03-14,F,M1 5QA,40 Oxford Road,3524001,ignored
r2,,Kowalski,Jakub,2017-09-02,M,M1 5QA,40 Oxford Road,3524001,
r3,,Smith,Oliver,2014-01-01,M,M4 1AA,1 High Street,3524002,
"""


def run(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(cfg), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_records_import_updates_rather_than_duplicates(tmp_path: Path) -> None:
    _, b = pair(tmp_path)
    f = tmp_path / "roll.csv"
    f.write_text(RECORDS)
    out = run(b.config, "records", "import", str(f))
    assert out.returncode == 0, out.stderr
    f.write_text(RECORDS.replace("Oliver", "Olly"))
    assert run(b.config, "records", "import", str(f)).returncode == 0
    import sqlite3

    rows = sqlite3.connect(b.path / "gateway.db").execute(
        "SELECT record_id, forename FROM records ORDER BY record_id").fetchall()
    assert rows == [("r1", "Amelia"), ("r2", "Jakub"), ("r3", "Olly")]
    bad = tmp_path / "bad.csv"
    bad.write_text("surname,forename\nSmith,Jo\n")
    out = run(b.config, "records", "import", str(bad))
    assert out.returncode == 1 and out.stderr.startswith("REJECTED records-missing-column:")


async def test_received_enquiry_is_matched_and_results_stored_with_it(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    gw = await Gateway.open(b.settings())
    try:
        await gw.store.records.upsert([
            {"record_id": "r1", "surname": "Kowalski", "forename": "Amelia",
             "dob": "2015-03-14", "sex": "F", "postcode": "M1 5QA"},
            {"record_id": "r2", "surname": "Kowalski", "forename": "Jakub",
             "dob": "2017-09-02", "sex": "M", "postcode": "M1 5QA"},
            {"record_id": "r3", "surname": "Smith", "forename": "Oliver",
             "dob": "2014-01-01", "sex": "M", "postcode": "M4 1AA"}])
        signer = Signer(k.load_private_key(a.path / "keys/gateway.key"),
                        k.load_certificate(a.path / "keys/gateway.pem"))
        mid = m.new_id()
        enquiry = m.Enquiry(
            header=m.Header(mid, mid, m.utcnow(), "355", "352", m.MessageType.ENQUIRY),
            enquiry_date=dt.date.today(), officer=m.Officer("Officer"),
            children=(
                # a typo and a nickname, same child
                m.EnquiryChild("1", "Kowalsky", "Millie", dob=dt.date(2015, 3, 14),
                               gender="F", address_while_resident=m.Address((), "M15QA")),
                # a sibling of r1/r2 who is not on any record: must not claim a sibling
                m.EnquiryChild("2", "Kowalski", "Zofia", dob=dt.date(2019, 5, 5),
                               gender="F", address_while_resident=m.Address((), "M1 5QA"))))
        await inbound_for(gw).receive(signer.sign(mx.build(enquiry)))
        assert await MatchWorker(gw).tick() == 1
        results = {r.child_ref: r for r in await gw.store.records.results(mid)}
        assert results["1"].best_record_id == "r1"
        assert results["1"].best_band in ("match", "possible")
        assert results["1"].candidates[0]["explanation"]
        assert results["2"].best_band != "match"
        assert await MatchWorker(gw).tick() == 0  # matched once
    finally:
        await gw.close()


def test_a_rejected_import_changes_nothing(tmp_path: Path) -> None:
    """Security review item 5: a file refused at row 1,400 had already committed the first
    1,000 rows (batches were committed as read), with no audit entry."""
    import sqlite3

    _, b = pair(tmp_path)
    f = tmp_path / "roll.csv"
    f.write_text(RECORDS)
    assert run(b.config, "records", "import", str(f)).returncode == 0
    lines = ["record_id,surname,forename,dob"] + [
        f"n{i},Surname{i},Forename{i},2015-01-01" for i in range(1500)]
    lines[1400] = "n1399,Surname,Forename,2015-13-45"  # an unreadable date, late in the file
    big = tmp_path / "big.csv"
    big.write_text("\n".join(lines) + "\n")
    out = run(b.config, "records", "import", str(big))
    assert out.returncode == 1 and out.stderr.startswith("REJECTED records-bad-date")
    assert "2015-13-45" not in out.stderr  # the row is named, never the value
    db = sqlite3.connect(b.path / "gateway.db")
    assert db.execute("SELECT COUNT(*) FROM records").fetchone() == (3,)
    assert db.execute("SELECT detail FROM audit WHERE action = 'records-import'"
                      ).fetchall() == [("3 records from roll.csv",)]
