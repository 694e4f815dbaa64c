"""The load generator and the server-side CPU meter of the inbound benchmark.

The client must not be what limits the figure. ``wrk`` (Debian package ``wrk``; ``.ci/run``
installs it) drives the closed loop: a C event loop whose Lua script (``bench/wrk_bodies.lua``)
sends each pre-signed, unique enquiry once, each wrk thread its own slice, and stops when its
slice is answered. Its cost per request is a few microseconds, against a hundred or more for
a Python aiohttp client. Where wrk is missing, a Python client stands in (several processes,
so that it is not one core's worth either) and the report says so.

What the machine's noise cannot move much is the **server's CPU time per accepted message**:
utime + stime of the server process and every process under it (``serve --workers N`` starts
N - 1 workers as its children), read from ``/proc/<pid>/stat`` before and after the load and
divided by the messages accepted. Threads are counted in their process's figure (SQLite runs
on a thread), so this is all the CPU the server spent, the load's share of the time it was
otherwise idle included.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiohttp

from bench.common import ROOT, pct

LUA = ROOT / "bench" / "wrk_bodies.lua"
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    return text[text.rindex(")") + 2:].split()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and int(st[1]) == pid:  # field 4, ppid
                kids.append(int(entry.name))
    return kids


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime, in seconds, of ``pid`` and every live process below it."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        st = _stat(p)
        if st is None:
            continue
        total += (int(st[11]) + int(st[12])) / _TICK  # fields 14 and 15: utime, stime
        todo += _children(p)
    return total


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def write_bodies(bodies: list[bytes], folder: Path) -> Path:
    """The bodies for the Lua script: a line with each body's length, then the bodies."""
    path = folder / "bodies.bin"
    with open(path, "wb") as fh:
        fh.write(f"{len(bodies)}\n".encode())
        fh.write((" ".join(str(len(b)) for b in bodies) + "\n").encode())
        for b in bodies:
            fh.write(b)
    return path


def wrk_closed(url: str, bodies: list[bytes], conc: int, threads: int = 2,
               limit_s: float = 600) -> dict[str, float]:
    """Send every body once with wrk, ``conc`` connections over ``threads`` threads.
    Returns messages/s (answered / seconds), p50/p99 ms and the count answered 200."""
    threads = max(1, min(threads, conc))
    with tempfile.TemporaryDirectory(prefix="cme-wrk-") as tmp:
        data = write_bodies(bodies, Path(tmp))
        cmd = ["wrk", "-t", str(threads), "-c", str(conc), "-d", f"{int(limit_s)}s",
               "--timeout", "30s", "-s", str(LUA), url, "--", str(data), str(threads)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None and proc.stdout is not None
        ready = stopped = 0
        t0 = t1 = time.perf_counter()
        # Each thread says "ready" when its slice is loaded and "stopped" when it is
        # answered; wrk itself would wait out its -d, so it is interrupted (SIGINT: it then
        # prints its summary) once every thread has stopped.
        for line in proc.stderr:
            word = line.strip()
            if word == b"ready":
                ready += 1
                t0 = time.perf_counter()
            elif word == b"stopped":
                stopped += 1
                if stopped == threads:
                    t1 = time.perf_counter()
                    proc.send_signal(signal.SIGINT)
                    break
        out, err = proc.communicate(timeout=60)
    summary = None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("JSON "):
            summary = json.loads(line[5:])
    if summary is None or stopped != threads:
        raise RuntimeError(f"wrk did not finish: {out.decode(errors='replace')[-1500:]}"
                           f"{err.decode(errors='replace')[-500:]}")
    return {"rps": summary["answered"] / (t1 - t0), "p50_ms": summary["p50_us"] / 1e3,
            "p99_ms": summary["p99_us"] / 1e3, "ok": summary["ok"],
            "answered": summary["answered"], "seconds": t1 - t0}


async def _closed(url: str, bodies: list[bytes], conc: int
                  ) -> tuple[list[float], int, float, float]:
    lat: list[float] = []
    ok = 0
    it = iter(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
        async def worker() -> None:
            nonlocal ok
            for body in it:
                t = time.perf_counter()
                async with s.post(url, data=body) as r:
                    await r.read()
                    ok += r.status == 200
                lat.append(time.perf_counter() - t)
        start = time.time()  # wall clock: compared across the client processes
        await asyncio.gather(*(worker() for _ in range(conc)))
    return lat, ok, start, time.time()


def _closed_proc(args: tuple[str, list[bytes], int]) -> tuple[list[float], int, float, float]:
    return asyncio.run(_closed(*args))


def python_closed(url: str, bodies: list[bytes], conc: int, procs: int = 2
                  ) -> dict[str, float]:
    """The stand-in for wrk: ``procs`` processes of aiohttp clients, ``conc`` in flight in
    all. The rate is timed from the first process's start to the last one's end (the
    processes' own start-up is not counted)."""
    slices = [bodies[i::procs] for i in range(procs)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(_closed_proc, [(url, s, max(1, conc // procs)) for s in slices])
    lat = [x for p in parts for x in p[0]]
    ok = sum(p[1] for p in parts)
    elapsed = max(p[3] for p in parts) - min(p[2] for p in parts)
    return {"rps": len(bodies) / elapsed, "p50_ms": pct(lat, 50) * 1e3,
            "p99_ms": pct(lat, 99) * 1e3, "ok": ok, "answered": len(bodies),
            "seconds": elapsed}


def closed_loop(url: str, bodies: list[bytes], conc: int) -> dict[str, float]:
    return wrk_closed(url, bodies, conc) if have_wrk() else python_closed(url, bodies, conc)


def client_name() -> str:
    return "wrk (Lua, pre-signed unique bodies)" if have_wrk() else \
        "Python aiohttp, 2 processes (wrk not installed)"


async def open_loop(url: str, bodies: list[bytes], rate: float) -> dict[str, float]:
    """Offer the bodies at a fixed ``rate`` (open loop: a slow answer does not slow the
    arrivals) and time each. Half the peak rate is a few hundred to a thousand a second,
    which one Python process offers on time (the achieved rate is reported)."""
    lat: list[float] = []
    ok = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        async def one(body: bytes) -> None:
            nonlocal ok
            t = time.perf_counter()
            async with s.post(url, data=body) as r:
                await r.read()
                ok += r.status == 200
            lat.append(time.perf_counter() - t)
        tasks = []
        t0 = time.perf_counter()
        for i, body in enumerate(bodies):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        offered = len(bodies) / max(1e-9, time.perf_counter() - t0)
        await asyncio.gather(*tasks)
    return {"p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3, "ok": ok,
            "offered_rps": offered}


T = TypeVar("T")


def measured(pid: int, load: Callable[[], T]) -> tuple[T, float]:
    """Run ``load()`` and return its result and the server tree's CPU seconds meanwhile."""
    before = tree_cpu_seconds(pid)
    result = load()
    return result, tree_cpu_seconds(pid) - before
