"""Shared benchmark helpers: machine description, percentiles, gateway processes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in
                         ("aiohttp", "lxml", "signxml", "cryptography", "asyncpg"))
    return (f"{cpu}; {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; {versions}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, *args], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=ROOT, env={**os.environ, **(env or {})})


def wait_http(url: str, timeout: float = 20, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers; fail at once if ``proc`` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {proc.returncode} before "
                               "answering; see its log")
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")
