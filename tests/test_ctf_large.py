"""A CTF of more than 50 MB is checked as a stream: memory stays bounded (a whole tree of such
a file would take several hundred MB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.testing.ctf import write_ctf
from tests.conftest import ROOT

# VmHWM is this process image's own peak (ru_maxrss can carry the forking parent's over exec)
PROBE = """
import sys
from pathlib import Path
from gateway.ctf.reader import read_ctf
info = read_ctf(Path(sys.argv[1]), versions=["25.0", "24.0"], max_pupils=10000)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(len(info.pupils), int(hwm.split()[1]) // 1024)
"""


def test_fifty_megabyte_ctf_is_read_in_bounded_memory(tmp_path: Path) -> None:
    f = tmp_path / "big.xml"
    write_ctf(f, source=("355", "2001"), dest=("352", "4001"), pupils=2600)
    size_mb = f.stat().st_size / 1e6
    assert size_mb > 50
    out = subprocess.run([sys.executable, "-c", PROBE, str(f)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    pupils, peak_mb = map(int, out.stdout.split())
    assert pupils == 2600
    # Python with lxml and the gateway imported is ~40 MB; a tree of this file is ~10x its size
    assert peak_mb < 120, f"peak {peak_mb} MB for a {size_mb:.0f} MB CTF"
