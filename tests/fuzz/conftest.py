"""Fuzzing as a test: Hypothesis drives every parser with generated and mutated input.

``FUZZ_EXAMPLES`` sets the inputs per target (default 200, so ``make test`` runs a short
version); ``make fuzz`` runs 100,000 each. The property of every target: no unhandled
exception (a parser raises only GatewayError, the CSV reader only MatchInputError, and every
HTTP answer is a 2xx or 4xx with a body, never a 500 ``internal-error``). At the end of the
session one line per target gives the inputs run, the failing ones and the time taken.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
DERANDOMIZE = "FUZZ_EXAMPLES" not in os.environ
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Target:
    inputs: int = 0
    failing: int = 0
    seconds: float = 0.0
    outcome: str = "not run"
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)


TARGETS: dict[str, Target] = {}


def fuzz_settings(spare: float = 0.0) -> settings:
    """Hypothesis settings for one target: EXAMPLES inputs, no deadline (a slow input is
    not a failure), no example database (a run leaves nothing behind; a failure prints its
    input), and none of the health checks that only say generation is slow. ``spare``: the
    share of generated examples that never reach the target (generated, then skipped),
    added so that the target still sees EXAMPLES inputs."""
    return settings(max_examples=int(EXAMPLES * (1 + spare)), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck),
                    # the short run in `make test` is the same every time (CI must not
                    # pass or fail by luck); `make fuzz` explores afresh on every run
                    derandomize=DERANDOMIZE)


def where(exc: BaseException) -> str:
    """An exception's type and the innermost gateway line it passed (never its message)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/gateway/" in f.filename]
    at = f" at {frames[-1].filename.split('/gateway/')[-1]}:{frames[-1].lineno}" if frames \
        else ""
    return f"{type(exc).__name__}{at}"


class Counter:
    """One target's inputs and failing inputs. A failure does not stop the run: each kind of
    failure (its signature) keeps its shortest input, and ``verdict`` fails the test at the
    end, so a known bug does not hide the inputs after it and the counts are whole."""

    def __init__(self, target: Target) -> None:
        self.target = target

    @contextmanager
    def input(self, shown: object) -> Iterator[None]:
        self.target.inputs += 1
        try:
            yield
        except Exception as exc:
            self.target.failing += 1
            sig = str(exc).splitlines()[0][:300] if isinstance(exc, AssertionError) \
                else where(exc)
            text = repr(shown)
            kept = self.target.failures.get(sig)
            if kept is None or len(text) < len(kept[1]):
                self.target.failures[sig] = (kept[0] + 1 if kept else 1, text)
            elif kept is not None:
                self.target.failures[sig] = (kept[0] + 1, kept[1])

    def verdict(self) -> None:
        if self.target.failures:
            raise AssertionError("\n".join(
                f"{sig} ({n} inputs), shortest: {text[:1000]}"
                for sig, (n, text) in self.target.failures.items()))


@pytest.fixture
def fuzz(request: pytest.FixtureRequest) -> Iterator[Counter]:
    name = request.node.name
    target = TARGETS.setdefault(name, Target())
    t0 = time.perf_counter()
    yield Counter(target)
    target.seconds += time.perf_counter() - t0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and item.name in TARGETS:
        TARGETS[item.name].outcome = "xfail" if hasattr(report, "wasxfail") else report.outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TARGETS:
        return
    tr = terminalreporter
    tr.section(f"fuzz targets (FUZZ_EXAMPLES={EXAMPLES})")
    for name, t in TARGETS.items():
        rate = t.inputs / t.seconds if t.seconds else 0.0
        tr.write_line(f"{name}: {t.inputs} inputs, {t.failing} failing, {t.seconds:.1f} s "
                      f"({rate:.0f}/s), {t.outcome}")
        for sig, (n, text) in t.failures.items():
            tr.write_line(f"    {sig}: {n} inputs; shortest {text[:300]}")
