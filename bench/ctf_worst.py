"""CTF worst cases: peak RSS and CPU seconds of one check of the largest CTF the limits accept,
for each shape that costs more than its size (docs/ctf-limits.md).

    python -m bench.ctf_worst [--quick]

Each file is as large as the limits let it be while still accepted (``max_ctf_bytes``, the
element, attribute and pupil limits of ``Settings``): many attributes at the limit with long
values (all in one pupil, so all in memory at once), tiny elements up to the file limit, deep
nesting, long text, namespace-prefixed names, the most pupils, and a real-shaped CTF of
``max_ctf_bytes``; and, for comparison, the review's two shapes, which are now refused.
Each check runs in a fresh process that reports its own peak RSS (VmHWM) and CPU time (user
+ system); the floor is the same process reading a one-pupil CTF. ``--quick`` scales the
byte and file limits down 16 times (seconds, for ``python -m bench.run --quick``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, machine
from gateway.core.config import Settings
from gateway.testing.ctf import write_ctf

HEADER = ("<Header><DocumentName>Common Transfer File</DocumentName><CTFversion>25.0"
          "</CTFversion><DateTime>2026-11-27T10:00:00</DateTime><DocumentQualifier>full"
          "</DocumentQualifier><SupplierID>bench</SupplierID><SourceSchool><LEA>355</LEA>"
          "<Estab>2001</Estab></SourceSchool><DestSchool><LEA>352</LEA><Estab>4001</Estab>"
          "</DestSchool></Header>")
PUPIL = "<Pupil><Surname>A</Surname><Forename>B</Forename><DOB>2015-01-01</DOB>"
PUPIL_ELEMENTS = 4  # Pupil, Surname, Forename, DOB
HEAD_ELEMENTS = 17  # CTfile, Header and its 13, CTFpupilData (a little over: a margin)
MAX_DEPTH = 255  # libxml2's limit without XML_PARSE_HUGE is 256 levels
TEXT_NODE = 10_000_000  # libxml2's limit for one text node without XML_PARSE_HUGE

# One check in a fresh process, the settings' limits passed as the gateway passes them.
PROBE = """
import json, resource, sys, time
from pathlib import Path
from gateway.core.errors import GatewayError
from gateway.ctf.reader import read_ctf
limits = json.loads(sys.argv[2])
t = time.process_time()
try:
    info = read_ctf(Path(sys.argv[1]), versions=["25.0"], **limits)
    result = f"accepted {len(info.pupils)} pupils"
except GatewayError as exc:
    result = f"refused {exc.code}"
cpu = time.process_time() - t
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"result": result, "cpu_s": cpu, "rss_mb": int(hwm.split()[1]) / 1024}))
"""


@dataclass(frozen=True)
class Limits:
    bytes: int
    pupils: int
    pupil_elements: int
    elements: int
    attributes_per_element: int
    attributes: int

    @classmethod
    def of(cls, s: Settings, scale: int = 1) -> Limits:
        return cls(s.max_ctf_bytes // scale, s.max_ctf_pupils, s.max_ctf_pupil_elements,
                   s.max_ctf_elements // scale, s.max_ctf_attributes_per_element,
                   s.max_ctf_attributes // scale)

    def reader_kwargs(self) -> dict[str, int]:
        return {"max_pupils": self.pupils, "max_elements": self.pupil_elements,
                "max_total_elements": self.elements,
                "max_attributes_per_element": self.attributes_per_element,
                "max_attributes": self.attributes, "max_concurrent": 1}


def _write(path: Path, pupils: list[str]) -> None:
    """A CTF of one pupil per item (each item the pupil's data sections)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("<CTfile>" + HEADER + "<CTFpupilData>")
        for body in pupils:
            fh.write(PUPIL + body + "</Pupil>")
        fh.write("</CTFpupilData></CTfile>")


def _per_pupil(lim: Limits) -> int:
    """Elements a pupil's sections may hold, and how many such pupils the file limit takes."""
    return lim.pupil_elements - PUPIL_ELEMENTS - 1  # the section element itself


def attributes(path: Path, lim: Limits) -> str:
    """Every attribute the file may hold, in one pupil (so all in memory at once), each
    element at the per-element limit, values as long as the byte limit lets them be."""
    per = lim.attributes_per_element
    elements = min((lim.attributes - 64) // per, _per_pupil(lim))
    fixed = elements * (len("<a/>") + per * len(' a00=""')) + 4096
    value = max(1, (lim.bytes - fixed) // (elements * per))
    v = "v" * value
    tag = "<a " + " ".join(f'a{i:02d}="{v}"' for i in range(per)) + "/>"
    _write(path, ["<Attendance>" + tag * elements + "</Attendance>"])
    return f"{elements * per:,} attributes ({per} on each of {elements:,} elements), values " \
           f"of {value} bytes, one pupil"


def tiny(path: Path, lim: Limits) -> str:
    """Empty elements up to the file limit, each pupil at its own limit: the most elements
    (the most parser work) the limits accept."""
    per = _per_pupil(lim)
    pupils = (lim.elements - HEAD_ELEMENTS) // (per + PUPIL_ELEMENTS + 1)
    body = "<Attendance>" + "<a/>" * per + "</Attendance>"
    _write(path, [body] * pupils)
    return f"{pupils * (per + PUPIL_ELEMENTS + 1):,} elements, {pupils} pupils of {per:,}"


def deep(path: Path, lim: Limits) -> str:
    """The same element count as ``tiny``, as chains nested as deep as libxml2 allows."""
    depth = MAX_DEPTH - 4  # CTfile / CTFpupilData / Pupil / Attendance
    per = _per_pupil(lim)
    chains = per // depth
    pupils = (lim.elements - HEAD_ELEMENTS) // (chains * depth + PUPIL_ELEMENTS + 1)
    chain = "<a>" * depth + "</a>" * depth
    _write(path, ["<Attendance>" + chain * chains + "</Attendance>"] * pupils)
    return f"{pupils * chains * depth:,} elements {depth} deep, {pupils} pupils"


def long_text(path: Path, lim: Limits) -> str:
    """The byte limit in text, in one pupil: text nodes of libxml2's largest size."""
    budget = lim.bytes - 4096
    nodes, rest = divmod(budget, TEXT_NODE + 4)
    body = ("x" * TEXT_NODE + "<b/>") * nodes + "x" * max(0, rest - 4)
    _write(path, ["<Attendance>" + body + "</Attendance>"])
    return f"{budget / 1e6:.0f} MB of text in one pupil, nodes of at most {TEXT_NODE:,} bytes"


def prefixed(path: Path, lim: Limits) -> str:
    """``tiny`` with namespace-prefixed names (declared once a pupil): libxml2's namespace
    lookup on every element."""
    per = _per_pupil(lim)
    pupils = (lim.elements - HEAD_ELEMENTS) // (per + PUPIL_ELEMENTS + 1)
    body = '<Attendance xmlns:p="urn:x">' + "<p:a/>" * per + "</Attendance>"
    _write(path, [body] * pupils)
    return f"{pupils * per:,} prefixed elements, {pupils} pupils (one declaration each)"


def many_pupils(path: Path, lim: Limits) -> str:
    """The most pupils, each as small as a pupil may be."""
    _write(path, [""] * lim.pupils)
    return f"{lim.pupils:,} pupils"


def real(path: Path, lim: Limits) -> str:
    """A real-shaped CTF (the synthetic generator: attendance marks, assessments, contacts)
    as large as the byte limit allows."""
    per_pupil = 20_300  # bytes of one generated pupil
    pupils = min(lim.pupils, (lim.bytes - 4096) // per_pupil)
    write_ctf(path, source=("355", "2001"), dest=("352", "4001"), pupils=pupils)
    while path.stat().st_size > lim.bytes:
        pupils -= 50
        write_ctf(path, source=("355", "2001"), dest=("352", "4001"), pupils=pupils)
    return f"{pupils:,} generated pupils"


def refused_tiny(path: Path, lim: Limits) -> str:
    """The review's CPU case: the byte limit in empty elements, 20,000 a pupil (before the
    file limit, 32-74 s of CPU and accepted). Refused at the file limit."""
    per = _per_pupil(lim)
    pupils = (lim.bytes - 4096) // (len(PUPIL) + 32 + 4 * per)
    _write(path, ["<Attendance>" + "<a/>" * per + "</Attendance>"] * pupils)
    return f"{pupils * per:,} elements, {pupils} pupils"


def refused_tag(path: Path, lim: Limits) -> str:
    """The review's memory case: one start tag of attributes, a third of the byte limit
    (before the early count, about 1 GB). Refused before the parser sees the tag."""
    n = lim.bytes // 3 // 11
    _write(path, ["<Attendance " + " ".join(f'a{i}=""' for i in range(n)) + "/>"])
    return f"{n:,} attributes on one element"


SHAPES: dict[str, Callable[[Path, Limits], str]] = {
    "attributes at the limits": attributes, "tiny elements at the file limit": tiny,
    "deep nesting at the file limit": deep, "long text": long_text,
    "prefixed names at the file limit": prefixed, "most pupils": many_pupils,
    "real-shaped, byte limit": real,
    "refused: tiny elements to the byte limit": refused_tiny,
    "refused: one start tag of attributes": refused_tag,
}


def check(path: Path, lim: Limits) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path),
                          json.dumps(lim.reader_kwargs())],
                         capture_output=True, text=True, cwd=ROOT, timeout=900, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(quick: bool = False) -> dict[str, dict[str, object]]:
    lim = Limits.of(Settings(party="S2S"), 16 if quick else 1)
    rows: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="cme-ctf-worst-") as tmp:
        floor = Path(tmp) / "floor.xml"
        write_ctf(floor, source=("355", "2001"), dest=("352", "4001"), pupils=1)
        rows["floor: a one-pupil CTF"] = {"what": "Python, lxml and the reader loaded",
                                          "mb": floor.stat().st_size / 1e6,
                                          **check(floor, lim)}
        for name, make in SHAPES.items():
            f = Path(tmp) / "ctf.xml"
            what = make(f, lim)
            size = f.stat().st_size
            assert size <= lim.bytes, f"{name}: {size} bytes over the limit"
            rows[name] = {"what": what, "mb": size / 1e6, **check(f, lim)}
            f.unlink()
    return rows


def report(rows: dict[str, dict[str, object]], quick: bool = False) -> str:
    lim = Limits.of(Settings(party="S2S"), 16 if quick else 1)
    out = [f"machine: {machine()}",
           f"limits: {lim.bytes / 2**20:.0f} MiB, {lim.pupils} pupils, {lim.pupil_elements:,} "
           f"elements a pupil, {lim.elements:,} a file, {lim.attributes_per_element} "
           f"attributes an element, {lim.attributes:,} a file" +
           (" (--quick: byte and file limits / 16)" if quick else ""),
           "| shape | file MB | result | CPU s | peak RSS MB | what |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        out.append(f"| {name} | {r['mb']:.1f} | {r['result']} | {r['cpu_s']:.2f} | "
                   f"{r['rss_mb']:.0f} | {r['what']} |")
    accepted = [r for r in rows.values() if str(r["result"]).startswith("accepted")]
    worst_cpu = max(float(r["cpu_s"]) for r in accepted)  # type: ignore[arg-type]
    worst_rss = max(float(r["rss_mb"]) for r in accepted)  # type: ignore[arg-type]
    out.append(f"worst per accepted CTF: {worst_cpu:.2f} CPU s, {worst_rss:.0f} MB peak RSS "
               f"(a process runs at most max_concurrent_ctf_checks of them at once)")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    q = ap.parse_args().quick
    print(report(run(q), q))


if __name__ == "__main__":
    main()
