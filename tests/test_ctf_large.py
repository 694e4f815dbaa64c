"""A CTF of more than 50 MB is checked as a stream: memory stays bounded (a whole tree of such
a file would take several hundred MB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


# The outside security review, item 4: shapes that cost far more memory or CPU than their size.
HEADER = ("<Header><DocumentName>Common Transfer File</DocumentName><CTFversion>25.0"
          "</CTFversion><DateTime>2026-11-27T10:00:00</DateTime><DocumentQualifier>full"
          "</DocumentQualifier><SupplierID>x</SupplierID><SourceSchool><LEA>353</LEA><Estab>"
          "4001</Estab></SourceSchool><DestSchool><LEA>352</LEA><Estab>1234</Estab></DestSchool>"
          "</Header>")
PUPIL = "<Pupil><Surname>A</Surname><Forename>B</Forename><DOB>2015-01-01</DOB>"

OUTCOME = """
import sys
from pathlib import Path
from gateway.core.errors import GatewayError
from gateway.ctf.reader import read_ctf
try:
    info = read_ctf(Path(sys.argv[1]), versions=["25.0"], max_pupils=5000)
    result = f"accepted-{len(info.pupils)}"
except GatewayError as exc:
    result = exc.code
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(result, int(hwm.split()[1]) // 1024)
"""


def bomb(path: Path, pupils: int, section: str) -> Path:
    with open(path, "w") as fh:
        fh.write("<CTfile>" + HEADER + "<CTFpupilData>")
        for _ in range(pupils):
            fh.write(PUPIL + "<Attendance>" + section + "</Attendance></Pupil>")
        fh.write("</CTFpupilData></CTfile>")
    return path


SHAPES = {
    # one start tag of two million attributes (22 MB): 1 GB before this fix
    "one-tag": (1, "<a " + " ".join(f'a{i}=""' for i in range(2_000_000)) + "/>",
                "ctf-too-many-attributes"),
    # a million and a half namespace declarations on one element: 400 MB before
    "declarations": (1, "<a " + " ".join(f'xmlns:a{i}="u"' for i in range(1_500_000)) + "/>",
                     "ctf-too-many-attributes"),
    # four million processing instructions (20 MB), no element among them: 515 MB before
    "instructions": (1, "<?a?>" * 4_000_000, "accepted-1"),
    # attributes spread over many elements (17 MB)
    "spread": (20, ("<a " + " ".join(f'a{i}=""' for i in range(60)) + "/>") * 2000,
               "ctf-too-many-attributes"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_amplifying_shapes_are_read_in_bounded_memory(tmp_path: Path, shape: str) -> None:
    pupils, section, expected = SHAPES[shape]
    f = bomb(tmp_path / f"{shape}.xml", pupils, section)
    out = subprocess.run([sys.executable, "-c", OUTCOME, str(f)], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    result, peak_mb = out.stdout.split()
    assert result == expected
    assert int(peak_mb) < 80, f"{shape}: peak {peak_mb} MB"


def test_a_file_of_tiny_elements_stops_at_the_file_limit(tmp_path: Path) -> None:
    """16 million empty elements in 64 MB, 20,000 a pupil (each under its own limit): the
    file limit stops it at 3 million (before it, 32-74 s of CPU, accepted)."""
    f = bomb(tmp_path / "tiny.xml", 800, "<a/>" * 19_990)
    out = subprocess.run([sys.executable, "-c", OUTCOME, str(f)], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "ctf-file-too-many-elements"
