"""CTFs through real processes: the S2S hub, LA 355 and LA 352, with schools as parties.

The three processes are started once for the module (``world``) and every test shares them,
so each test uses its own pupils, files and destination schools, and looks only at the rows
its own CTFs made (by transfer id, by the file's digest, or by what changed while it ran),
never at a table's total."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from gateway.testing.ctf import Pupil, make_upn, write_ctf
from tests.conftest import ROOT, Home, free_port, make_home
from tests.test_e2e import api, wait_for

SCHOOL_A, SCHOOL_B = "3552001", "3524001"
# Schools in LA 352's area that only one test sends to (SCHOOL_B is the normal CTF's):
# each test finds nothing in its school's folder but its own CTF.
CLAIMED_FOR, FLAGGED_FOR = "3524002", "3524003"


def cli(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(home.config), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def rows(home: Home, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(home.path / "gateway.db", timeout=15) as conn:
        return conn.execute(sql, args).fetchall()


def notices(hub: Home, tid: str) -> int:
    """How many CtfNotices the hub has queued about transfer ``tid``."""
    ((n,),) = rows(hub, "SELECT COUNT(*) FROM outbound WHERE message_type = 'CtfNotice' "
                        "AND instr(CAST(body AS TEXT), ?) > 0", f">{tid}<")
    return int(n)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ctf_world(tmp_path_factory: pytest.TempPathFactory, module_procs):
    base = tmp_path_factory.mktemp("ctf-world")
    ports = {p: free_port() for p in ("S2S", "355", "352")}
    url = {p: f"http://127.0.0.1:{port}/v1/messages" for p, port in ports.items()}
    hub = make_home(base, "S2S", {"355": url["355"], "352": url["352"]}, ports["S2S"],
                    role="hub", extra=f"max_ctf_bytes = {3 * 1024 * 1024}\n")
    la355 = make_home(base, "355", {"S2S": url["S2S"]}, ports["355"])
    la352 = make_home(base, "352", {"S2S": url["S2S"]}, ports["352"])
    school_a = make_home(base, SCHOOL_A, {"S2S": url["S2S"], "355": url["355"]})
    school_b = make_home(base, SCHOOL_B, {"S2S": url["S2S"]})
    for h in (la355, la352, school_a, school_b):
        hub.trust(h)
        h.trust(hub)
    la355.trust(school_a)
    school_a.trust(la355)
    started = [module_procs(h) for h in (hub, la355, la352)]
    return (hub, la355, la352, school_a, school_b), started


@pytest.fixture
def world(ctf_world):
    homes, started = ctf_world
    for p in started:  # one that died in an earlier test would fail this one obscurely
        assert p.proc is not None and p.proc.poll() is None, p.log()
    return homes


def pupil(surname: str = "Kowalczyk", forename: str = "Amelia", upn: str | None = None,
          dob: date = date(2015, 3, 14)) -> Pupil:
    return Pupil(upn=upn or make_upn("355", "2001", 2019, 42), surname=surname,
                 forename=forename, dob=dob, sex="F", postcode="M30 7LP")


def test_a_normal_ctf_reaches_the_destination_school(world, tmp_path) -> None:
    hub, la355, la352, school_a, _ = world
    ctf = tmp_path / "normal.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("352", "4001"), pupils=3)
    out = cli(school_a, "ctf", "post", str(ctf), "--to", "S2S")
    assert out.returncode == 0, out.stdout + out.stderr
    tid = out.stdout.split()[2]
    held = la352.path / "inbox" / SCHOOL_B
    wait_for("the CTF at 352", lambda: any(held.glob("*.xml")) if held.exists() else False)
    (got,) = list(held.glob("*.xml"))
    assert got.read_bytes() == ctf.read_bytes()  # the school's bytes, exactly
    items = api(la352, f"/v1/admin/schools/{SCHOOL_B}/ctf")["items"]
    assert len(items) == 1 and items[0]["pupils"] == 3 and items[0]["sender"] == "S2S"
    assert rows(hub, "SELECT state FROM transfers WHERE transfer_id = ?", tid) == [
        ("forwarded",)]


def test_lost_ctf_lpd_case_search_claim_and_second_claim(world, tmp_path) -> None:
    hub, la355, la352, school_a, _ = world
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    out = cli(school_a, "ctf", "post", str(lost), "--to", "S2S")
    assert out.returncode == 0, out.stdout + out.stderr
    tid = out.stdout.split()[2]
    assert rows(hub, "SELECT kind, state FROM lpd WHERE transfer_id = ?", tid) == [
        ("lost", "lost")]
    assert notices(hub, tid) == 1  # a school's own upload: the hub tells its LA
    # LA 355 (the source school's LA) gets a category 7 case from the hub's notice
    wait_for("the case at 355", lambda: rows(la355, "SELECT category FROM cases "
                                                    "WHERE transfer_id = ?", tid))
    assert rows(la355, "SELECT category, surname FROM cases WHERE transfer_id = ?", tid) == [
        (7, "Kowalczyk")]

    # LA 352 searches with a typo in the surname and finds it
    ((searched_before,),) = rows(hub, "SELECT COALESCE(MAX(id), 0) FROM audit")
    out = cli(la352, "lpd", "search", "--surname", "Kowalcyzk", "--forename", "Amelia",
              "--dob", "2015-03-14", "--sex", "F", "--reason", "New arrival at Oak School")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(tid)
    found = api(la352, "/v1/admin/lpd/search", b'{"surname": "Kowalcyzk", "forename": '
                b'"Amelia", "dob": "2015-03-14", "reason": "new arrival"}', "application/json")
    assert found["candidates"][0]["transfer_id"] == tid
    assert found["candidates"][0]["band"] in ("match", "possible")
    assert found["candidates"][0]["reason"]
    audited = rows(hub, "SELECT actor, detail FROM audit WHERE action = 'lpd-search' "
                        "AND id > ? ORDER BY id", searched_before)
    assert len(audited) == 2 and all(a == "352" for a, _ in audited)
    assert "new arrival" in audited[1][1] and "Kowalcyzk" not in audited[1][1]

    # claim it for a school in 352's area: the CTF arrives at 352 for that school
    out = cli(la352, "lpd", "claim", tid, "--for-school", CLAIMED_FOR, "--reason", "on roll")
    assert out.returncode == 0, out.stderr
    held = la352.path / "inbox" / CLAIMED_FOR
    wait_for("the claimed CTF at 352",
             lambda: any(held.glob("*.xml")) if held.exists() else False)
    assert next(held.glob("*.xml")).read_bytes() == lost.read_bytes()
    assert rows(hub, "SELECT state, claimed_by, claimed_for FROM lpd WHERE transfer_id = ?",
                tid) == [("claimed", "352", CLAIMED_FOR)]
    history = [a for (a,) in rows(hub, "SELECT action FROM lpd_history WHERE transfer_id = ? "
                                       "ORDER BY id", tid)]
    assert history == ["stored", "claimed", "delivery-queued", "claim-notice"]
    # the loop closes at 355: the hub's ClaimNotice moves its case to "located by LA 352"
    wait_for("the case located at 355", lambda: rows(
        la355, "SELECT status FROM cases WHERE transfer_id = ?", tid) == [("located",)])
    moves = rows(la355, "SELECT e.to_state, e.detail FROM case_events e JOIN cases c ON "
                        "c.case_id = e.case_id WHERE c.transfer_id = ? AND e.kind = 'moved' "
                        "ORDER BY e.id", tid)
    assert [to for to, _ in moves] == ["unknown", "located"]
    assert "located by LA 352" in moves[-1][1]

    # a second claim is refused, and a claim for another LA's school too
    again = cli(la352, "lpd", "claim", tid, "--for-school", CLAIMED_FOR, "--reason", "again")
    assert again.returncode == 1 and "REJECTED lpd-already-claimed" in again.stderr
    other = cli(la355, "lpd", "claim", tid, "--for-school", CLAIMED_FOR, "--reason", "x")
    assert other.returncode == 1 and "REJECTED lpd-forbidden" in other.stderr


def test_search_by_upn_and_schools_may_not_search(world, tmp_path) -> None:
    hub, la355, la352, school_a, _ = world
    upn = make_upn("355", "2001", 2018, 7)
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("MMM", "MMMM"),
              pupils=[pupil("Okafor", "Tobi", upn, date(2014, 7, 2))])
    posted = cli(school_a, "ctf", "post", str(lost))
    assert posted.returncode == 0, posted.stdout + posted.stderr
    tid = posted.stdout.split()[2]
    out = cli(la352, "lpd", "search", "--upn", upn, "--reason", "UPN from the new school")
    first = out.stdout.splitlines()[0]
    assert first.startswith(tid) and " match " in first and "out-of-sector" in first, out
    wait_for("the out-of-sector case", lambda: rows(la355, "SELECT category FROM cases "
                                                           "WHERE transfer_id = ?", tid))
    assert rows(la355, "SELECT category FROM cases WHERE transfer_id = ?", tid) == [(9,)]
    # a school is not an LA: the hub refuses its search
    school_search = cli(school_a, "lpd", "search", "--upn", upn, "--reason", "x")
    assert school_search.returncode == 1 and "lpd-forbidden" in school_search.stderr


def test_school_posts_a_lost_ctf_to_its_own_la(world, tmp_path) -> None:
    hub, la355, la352, school_a, _ = world
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"),
              pupils=[pupil("Nowak", "Zofia", make_upn("355", "2001", 2019, 43),
                            date(2016, 9, 2))])
    out = cli(school_a, "ctf", "post", str(lost), "--to", "355")
    assert out.returncode == 0, out.stdout + out.stderr
    tid = out.stdout.split()[2]
    assert rows(la355, "SELECT category, surname FROM cases WHERE transfer_id = ?", tid) == [
        (7, "Nowak")]
    # 355 forwards it in a transfer of its own: at the hub it is known by the file's digest
    in_lpd = ("SELECT lpd.transfer_id, lpd.state, lpd.source_lea FROM lpd "
              "JOIN transfers USING (transfer_id) WHERE transfers.digest = ?")
    wait_for("the CTF in the LPD", lambda: rows(hub, in_lpd, digest(lost)))
    ((hub_tid, state, source_lea),) = rows(hub, in_lpd, digest(lost))
    assert (state, source_lea) == ("lost", "355") and hub_tid != tid
    # the LA forwarded it, so the hub sends no notice and 355 still has one case
    assert notices(hub, hub_tid) == 0


HUB_TABLES = ("inbound", "transfers", "ctf_pupils", "lpd", "outbound")


def hub_holdings(hub: Home) -> tuple[dict[str, int], list[Path]]:
    counts = {t: rows(hub, f"SELECT COUNT(*) FROM {t}")[0][0] for t in HUB_TABLES}
    ctf_dir = hub.path / "ctf"
    files = sorted(p for p in ctf_dir.rglob("*") if p.is_file()) if ctf_dir.exists() else []
    return counts, files


def settled(*homes: Home) -> bool:
    """Nothing queued or being sent anywhere: no earlier test's delivery is still on its way
    (a forward from an LA to the hub would add rows there)."""
    return all(rows(h, "SELECT COUNT(*) FROM outbound WHERE state IN ('queued', 'sending')")
               == [(0,)] for h in homes)


@pytest.mark.parametrize("kind,code", [
    ("version", "ctf-version-unsupported"),
    ("two-lost", "ctf-lost-multiple-pupils"),
    ("oversize", "ctf-too-large"),
    ("malformed", "xml-malformed"),
    ("not-ctf", "ctf-schema-invalid"),
    ("wrong-source", "ctf-source-mismatch"),
])
def test_bad_ctfs_get_their_documented_errors_and_nothing_is_stored(world, tmp_path, kind,
                                                                    code) -> None:
    hub, la355, la352, school_a, _ = world
    f = tmp_path / "bad.xml"
    if kind == "version":
        write_ctf(f, source=("355", "2001"), dest=("352", "4001"), version="23.0")
    elif kind == "two-lost":
        write_ctf(f, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=2)
    elif kind == "oversize":
        write_ctf(f, source=("355", "2001"), dest=("352", "4001"), pupils=200)
        assert f.stat().st_size > 3 * 1024 * 1024
    elif kind == "malformed":
        write_ctf(f, source=("355", "2001"), dest=("352", "4001"), pupils=2)
        f.write_bytes(f.read_bytes()[:-40])
    elif kind == "not-ctf":
        f.write_text("<CTfile><Header><DocumentName>x</DocumentName></Header></CTfile>")
    elif kind == "wrong-source":
        write_ctf(f, source=("355", "2002"), dest=("352", "4001"))
    wait_for("earlier deliveries to finish", lambda: settled(hub, la355, la352))
    before = hub_holdings(hub)
    out = cli(school_a, "ctf", "post", str(f))
    assert out.returncode == 1
    assert out.stdout.startswith(f"REJECTED {code}:"), out.stdout + out.stderr
    # the partner's refusal carries no detail; the file's own check is pointed to
    hint = f"Run 'cme-gateway ctf check {f.resolve()}'" in out.stdout
    assert hint == (code not in ("ctf-too-large", "ctf-source-mismatch")), out.stdout
    # not a row in any table, not a file (not even a temporary one) in the CTF folder
    assert hub_holdings(hub) == before


def test_invalid_upn_is_flagged_not_rejected(world, tmp_path) -> None:
    hub, _, _, school_a, _ = world
    good = make_upn("355", "2001", 2019, 5)
    bad = ("A" if good[0] != "A" else "B") + good[1:]
    f = tmp_path / "flagged.xml"
    write_ctf(f, source=("355", "2001"), dest=("352", FLAGGED_FOR[3:]),
              pupils=[pupil("Ali", "Sara", bad), pupil("Ali", "Omar", good)])
    check = subprocess.run([sys.executable, "-m", "gateway", "ctf", "check", str(f)],
                           capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0
    assert check.stdout.splitlines() == [
        "pupils=2 destination=school version=25.0",
        "WARNING pupil 1 upn-check-letter: UPN check letter is wrong (census error 1510)"]
    out = cli(school_a, "ctf", "post", str(f))
    assert out.returncode == 0, out.stdout
    tid = out.stdout.split()[2]
    flags = rows(hub, "SELECT idx, flags FROM ctf_pupils WHERE transfer_id = ? ORDER BY idx",
                 tid)
    assert flags[0][1].startswith("upn-check-letter") and flags[1][1] is None
    shown = api(hub, f"/v1/admin/transfers/{tid}")
    assert shown["flagged"] == 1 and shown["pupils"][0]["flags"][0].startswith(
        "upn-check-letter")
