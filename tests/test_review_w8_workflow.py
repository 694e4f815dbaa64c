"""Fourth workflow review (rev3e, 5 December): reproducers; each failed on the code as
reviewed: a CTF to the case's last school from another school is a finding; an absence
return with a temporary UPN and the deletion with the permanent one are one case."""

from __future__ import annotations

import functools
from pathlib import Path

from gateway.workflow.monitoring import MonitorWorker
from tests.test_review_w5_statutory import run
from tests.test_review_w6_workflow import ZOFIA_PUPIL, ctf_row, found_notes
from tests.test_review_w7_workflow import absence, deletion
from tests.test_school_notices import Schools

# valid check letters (python-stdnum gb.upn); the first is a temporary UPN (final letter)
TEMP_UPN = "A35240010001A"
PERMANENT_UPN = "D352400100012"


# ---- A: a CTF TO the last school (the child readmitted there) is still dropped ------------

def test_a_ctf_from_another_school_to_the_last_school_is_a_finding(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await deletion(s)  # deleted from 3524001 on 9(1)(i), whereabouts unknown
        # weeks later the child turns up again at 3524001: the interim school (another LA)
        # sends the CTF to it
        row = ctf_row(b, "3554009", "3524001", "school")
        await b.store.backend.write(functools.partial(
            b.store.transfers.insert, row=row, pupils=[ZOFIA_PUPIL]))
        await MonitorWorker(b).tick()
        assert await found_notes(s), "CTF to the deleting school after the deletion: no finding"
    run(body, tmp_path)


# ---- B: a temporary UPN replaced by the permanent one splits the child into two cases -----

def test_b_temporary_then_permanent_upn_is_still_one_case(tmp_path: Path) -> None:
    async def body(s: Schools) -> None:
        b = s.w.b
        await absence(s, upn=TEMP_UPN)  # newly arrived pupil: temporary UPN
        await deletion(s, upn=PERMANENT_UPN)  # 20 days on: the permanent UPN has come
        cases = await b.store.cases.find_open()
        assert len(cases) == 1, [(c.upn, c.status, c.reason[:30]) for c in cases]
    run(body, tmp_path)
