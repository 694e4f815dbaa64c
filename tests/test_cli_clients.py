"""``cme-gateway clients add|list|revoke``: API clients from the command line."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.core.errors import GatewayError
from gateway.store import open_store
from gateway.web.access import authenticate
from tests.conftest import make_home


def test_add_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CME_GATEWAY_"):
            monkeypatch.delenv(name)
    home = make_home(tmp_path, "352")
    cfg = ["--config", str(home.config)]
    assert main([*cfg, "clients", "add", "Oak School MIS", "--scope", "school:352/4001"]) == 0
    added = capsys.readouterr().out
    client_id = added.split()[1]
    token = added.strip().splitlines()[-1].split()[-1]
    assert "scope school:3524001" in added and token.startswith(f"cme_{client_id}_")

    async def caller(tok: str) -> str:
        s = home.settings()
        store = await open_store(s.database, s.home)
        try:
            return (await authenticate(store, tok)).scope
        finally:
            await store.close()

    assert asyncio.run(caller(token)) == "school:3524001"
    assert main([*cfg, "clients", "list"]) == 0
    listed = capsys.readouterr().out
    assert client_id in listed and "active" in listed and token not in listed
    assert main([*cfg, "clients", "revoke", client_id]) == 0
    capsys.readouterr()
    with pytest.raises(GatewayError):
        asyncio.run(caller(token))
    assert main([*cfg, "clients", "revoke", client_id]) == 1  # already revoked
    assert capsys.readouterr().err.startswith("REJECTED not-found: ")
    assert main([*cfg, "clients", "add", "MIS", "--scope", "school:35"]) == 1
    assert "3812001 or 381/2001" in capsys.readouterr().err
