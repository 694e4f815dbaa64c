"""LPD search at the hub, in process: who may search, and results that always fit their
schema."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from gateway.core.errors import GatewayError
from gateway.ctf.reader import PupilInfo
from gateway.exchange.gateway import Gateway
from gateway.hub.lpd import LpdIndex
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.messages.schemas import validate
from gateway.store.transfers import TransferRow
from tests.conftest import make_home


def query(**kw: object) -> m.LpdSearch:
    h = m.Header(m.new_id(), m.new_id(), m.utcnow(), "352", "S2S", m.MessageType.LPD_SEARCH)
    return m.LpdSearch(header=h, reason="new arrival", **kw)  # type: ignore[arg-type]


async def test_search_results_fit_their_schema_and_only_las_search(tmp_path: Path) -> None:
    hub = make_home(tmp_path, "S2S", role="hub")
    gw = await Gateway.open(hub.settings())
    try:
        long_name = "St " + "Very Long Name " * 30  # CTF text may be 500 characters
        pupil = PupilInfo(index=1, surname="Okafor", forename="Tobi", dob=dt.date(2015, 3, 14),
                          upn=None, sex="M")
        row = TransferRow(
            transfer_id=m.new_id(), sender="3552001", purpose="deliver", version="25.0",
            source_lea="355", source_estab="2001", dest_lea="XXX", dest_estab="XXXX",
            destination="lost", for_school=None, pupils=1, flagged=0, size_bytes=1,
            digest="0" * 64, path="/nonexistent", received_at=time.time(), state="lpd")

        async def op(tx) -> None:  # type: ignore[no-untyped-def]
            await gw.store.transfers.insert(tx, row, [pupil])
            await gw.store.transfers.insert_lpd(tx, row.transfer_id, "lost", "355", "2001",
                                                long_name, "3552001", time.time())
        await gw.store.backend.write(op)
        index = LpdIndex()

        found = await index.search(gw, "352", query(surname="Okafor", forename="Tobi",
                                              dob=dt.date(2015, 3, 14)))
        assert [c.transfer_id for c in found] == [row.transfer_id]
        h = gw.header(m.MessageType.LPD_RESULT, "352")
        validate(mx.build(m.LpdResult(header=h, search_id=m.new_id(), candidates=tuple(found))))

        for sender in ("3552001", "S2S"):
            with pytest.raises(GatewayError) as info:
                await index.search(gw, sender, query(surname="Okafor", forename="Tobi"))
            assert info.value.code == "lpd-forbidden"
        with pytest.raises(GatewayError) as info:
            await index.search(gw, "352", query(surname="Okafor"))
        assert info.value.code == "lpd-search-too-vague"
    finally:
        await gw.close()
