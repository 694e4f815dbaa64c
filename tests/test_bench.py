"""`make bench` works: the quick mode of every benchmark runs on both backends and writes its
results file. (Figures are printed, never asserted: timing belongs in bench/, not in tests.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow  # about 40 s: every benchmark, both backends
def test_bench_quick_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    res = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    text = out.read_text()
    for needle in ("Per-message floor", "| SQLite | PostgreSQL |", "inbound messages/s",
                   "outbound messages/s delivered", "outbound CPU ms per delivered message",
                   "outbox listing p95", "CTF accept s",
                   "xmlsec1 --verify", "bare aiohttp", "held-out", "queries/s",
                   "server CPU µs / message", "`serve --workers N`", "PostgreSQL / SQLite"):
        assert needle in text, needle


def test_free_port_never_gives_one_port_twice() -> None:
    """Two homes made in a row once got one port (CI: the outbound bench then waited blind)."""
    from tests.conftest import free_port

    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
