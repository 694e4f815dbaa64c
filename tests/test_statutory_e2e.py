"""Today's law across two real gateway processes (355 and 352), driven through the CLI: a
Children Not in School register entry follows a family that moves; a Traveller family
expected at 352 is watched and the sender told when a child arrives; a wrong NHS number is
refused before anything is sent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gateway.messages import model as m
from gateway.messages import xml as mx
from tests.conftest import pair
from tests.test_cnis import ENTRY
from tests.test_e2e import cli, db, wait_for

pytestmark = pytest.mark.slow


def test_a_register_entry_and_a_traveller_family_move_between_two_gateways(
        tmp_path: Path, procs) -> None:  # type: ignore[no-untyped-def]
    a, b = pair(tmp_path, extra='cnis_register = "on"\nworkflow_interval_seconds = 0.2\n'
                                'match_interval_seconds = 0.2')
    procs(a)
    procs(b)

    # the register: 355 adds an entry and the family moves to Manchester
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps(ENTRY))
    out = cli(a, "cnis", "add", str(entry))
    assert out.returncode == 0, out.stderr
    entry_id = out.stdout.split()[-1]
    out = cli(a, "cnis", "transfer", entry_id, "--to", "352", "--reason", "moved to Manchester")
    assert out.returncode == 0, out.stderr
    drafts = wait_for("the draft at 352", lambda: [
        e for e in json.loads(cli(b, "cnis", "list", "--json").stdout)
        if e["state"] == "draft"])
    assert drafts[0]["surname"] == "Nowak" and drafts[0]["entry"]["hours_by_parents"] == 18.5
    shown = json.loads(cli(a, "cnis", "show", entry_id, "--json").stdout)
    assert shown["state"] == "transferred" and shown["transferred_to"] == "352"
    cases = json.loads(cli(b, "cases", "list", "--json").stdout)
    assert [c["surname"] for c in cases] == ["Nowak"]
    out = cli(b, "cnis", "activate", drafts[0]["entry_id"], "--reason", "checked")
    assert out.returncode == 0, out.stderr

    # a Traveller family expected at 352: watched; Kezia joins a school there
    move_file = tmp_path / "move.xml"
    move = m.TravellerMove(
        header=m.Header(m.new_id(), "", m.utcnow(), "355", "352", m.MessageType.TRAVELLER_MOVE),
        notice_date=dt.date.today(), officer=m.Officer("Officer A"), site="Barton Lane",
        children=(m.EnquiryChild("1", "Lee", "Kezia", dob=dt.date(2015, 9, 9), gender="F"),))
    move = m.TravellerMove(**{**move.__dict__, "header": m.Header(
        **{**move.header.__dict__, "conversation_id": move.header.message_id})})
    move_file.write_bytes(mx.to_bytes(mx.build(move)))
    out = cli(a, "send", str(move_file), "--to", "352")
    assert out.returncode == 0, out.stderr
    wait_for("Kezia watched", lambda: [
        w for w in json.loads(cli(b, "monitoring", "list", "--json").stdout)
        if w["enquiry_id"] == move.header.message_id])
    roll = tmp_path / "roll.csv"
    roll.write_text("record_id,surname,forename,dob,sex,laestab\n"
                    "r1,Lee,Kezia,2015-09-09,F,3524005\n")
    assert cli(b, "records", "import", str(roll)).returncode == 0
    found = wait_for("Kezia found", lambda: [
        w for w in json.loads(cli(b, "monitoring", "list", "--json").stdout)
        if w["enquiry_id"] == move.header.message_id and w["state"] == "found"])
    out = cli(b, "monitoring", "approve", found[0]["watch_id"])
    assert out.returncode == 0, out.stderr

    def answered() -> str | None:
        with db(a) as conn:
            row = conn.execute("SELECT state, outcomes FROM outbound WHERE message_id = ?",
                               (move.header.message_id,)).fetchone()
        return row[1] if row and row[0] == "answered" else None

    outcomes = json.loads(wait_for("the reply at 355", answered))
    assert outcomes[0]["outcome"] == "known-on-roll"
    assert outcomes[0]["school"]["laestab"] == "3524005"

    # a wrong NHS number never leaves 355
    bad = tmp_path / "bad.xml"
    child = m.EnquiryChild("1", "Lee", "Kezia", dob=dt.date(2015, 9, 9),
                           nhs_number="9434765918")
    enquiry = m.Enquiry(header=m.Header(m.new_id(), m.new_id(), m.utcnow(), "355", "352",
                                        m.MessageType.ENQUIRY),
                        enquiry_date=dt.date.today(), officer=m.Officer("Officer A"),
                        children=(child,))
    bad.write_bytes(mx.to_bytes(mx.build(enquiry)))
    out = cli(a, "send", str(bad), "--to", "352")
    assert out.returncode == 1 and "REJECTED nhs-number-invalid" in out.stderr
    assert "9434765918" not in out.stderr


def test_school_returns_across_real_gateways(tmp_path: Path, procs) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_home

    a, b = pair(tmp_path, extra="workflow_interval_seconds = 0.2\nmatch_interval_seconds = 0.2")
    school = make_home(tmp_path, "3524001", {"352": f"{b.url}/v1/messages"})
    school.trust(b)
    b.trust(school)
    procs(a)
    procs(b)
    procs(school)  # the school's gateway sends its returns

    # 355 asks about Zofia; 352 does not know her and watches
    enquiry = m.Enquiry(
        header=m.Header(m.new_id(), "", m.utcnow(), "355", "352", m.MessageType.ENQUIRY),
        enquiry_date=dt.date.today(), officer=m.Officer("Officer A"),
        children=(m.EnquiryChild("1", "Nowak", "Zofia", dob=dt.date(2016, 5, 5), gender="F"),))
    eid = enquiry.header.message_id
    enquiry = m.Enquiry(**{**enquiry.__dict__, "header": m.Header(
        **{**enquiry.header.__dict__, "conversation_id": eid})})
    f = tmp_path / "enquiry.xml"
    f.write_bytes(mx.to_bytes(mx.build(enquiry)))
    assert cli(a, "send", str(f), "--to", "352").returncode == 0

    def approved() -> bool:
        return cli(b, "answer", eid, "--approve").returncode == 0

    wait_for("352 answers", approved)

    def outcome_at_355() -> str | None:
        with db(a) as conn:
            row = conn.execute("SELECT outcomes FROM outbound WHERE message_id = ?",
                               (eid,)).fetchone()
        return json.loads(row[0])[0]["outcome"] if row and row[0] else None

    wait_for("monitoring at 355", lambda: outcome_at_355() == "not-known-monitoring")

    def send_return(kind: m.NoticeKind, name: str, **kw: object) -> None:
        n = m.SchoolNotice(
            header=m.Header(m.new_id(), m.new_id(), m.utcnow(), "3524001", "352",
                            m.MessageType.SCHOOL_NOTICE),
            kind=kind, notice_date=dt.date.today(),
            pupil=m.NoticePupil("Nowak", "Zofia", dt.date(2016, 5, 5), gender="F"),
            **kw)  # type: ignore[arg-type]
        path = tmp_path / name
        path.write_bytes(mx.to_bytes(mx.build(n)))
        out = cli(school, "send", str(path), "--to", "352")
        assert out.returncode == 0, out.stderr

    # Zofia is admitted to 3524001, and the return comes three weeks late
    send_return(m.NoticeKind.NEW_PUPIL, "new.xml",
                admitted_on=dt.date.today() - dt.timedelta(days=21))
    found = wait_for("Zofia found by the return", lambda: [
        w for w in json.loads(cli(b, "monitoring", "list", "--json").stdout)
        if w["state"] == "found" and w["found_source"] == "school"])
    assert cli(b, "monitoring", "approve", found[0]["watch_id"]).returncode == 0
    wait_for("the updated reply at 355", lambda: outcome_at_355() == "known-on-roll")
    late = cli(b, "school-returns", "--late").stdout
    assert "school 3524001" in late and "LATE by" in late

    # another pupil leaves for nobody knows where: a case at once
    send_return(m.NoticeKind.DELETION, "deletion.xml",
                parents=(m.NoticeParent("Anna Nowak", telephone="0161 000 0001"),),
                deletion=m.Deletion(m.DeletionGround.WHEREABOUTS_UNKNOWN, dt.date.today()))
    cases = wait_for("the case", lambda: [
        c for c in json.loads(cli(b, "cases", "list", "--json").stdout)
        if "deletion from the roll" in c["reason"]])
    assert cases[0]["category"] == 7 and cases[0]["status"] == "unknown"
