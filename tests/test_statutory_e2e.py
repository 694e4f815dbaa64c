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
