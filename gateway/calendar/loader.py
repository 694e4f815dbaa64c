"""Reading an LA's school calendar: one TOML file per school year (docs/calendar.md).

```toml
school_year = "2026-27"                       # 1 September 2026 to 31 August 2027
inset = [2026-09-01, 2026-09-02]              # INSET (training) days: no pupils
closed = []                                   # optional: other days every school is shut

[[term]]
name = "Autumn"
start = 2026-09-01                            # first day of term (INSET days included)
end = 2026-12-18                              # last day of term

[[half_term]]
name = "October half term"
start = 2026-10-26
end = 2026-10-30
```

Bank holidays come from the ``holidays`` package (England), not from the file. Everything
is checked when the file is read, so a mistake fails at start-up with ``config-invalid``
naming the file, the line and the field, not at the first deadline counted on it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import holidays

from gateway.calendar.model import Calendar, Period, SchoolYear, Term
from gateway.core.config import Settings
from gateway.core.errors import GatewayError

EXAMPLE = "example-2026-27.toml"

TOP_KEYS = {"school_year", "inset", "closed", "term", "half_term"}
PERIOD_KEYS = {"name", "start", "end"}
_YEAR_RE = re.compile(r"^(\d{4})-(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEADER = r"^\s*\[\[?\s*[A-Za-z_\"']"  # a [table] or [[table]] header line


def england_bank_holidays(start_year: int) -> Mapping[dt.date, str]:
    """Bank holidays in England from 1 September ``start_year`` to 31 August the year
    after (substitute days included: Boxing Day on a Saturday is kept on the Monday)."""
    found = holidays.country_holidays("GB", subdiv="ENG", years=[start_year, start_year + 1])
    first, last = dt.date(start_year, 9, 1), dt.date(start_year + 1, 8, 31)
    return MappingProxyType({d: str(name) for d, name in sorted(found.items())
                             if first <= d <= last})


class _Lines:
    """Finds the line a table or a key is on, so that errors can name it (``tomllib``
    gives values without positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def _find(self, pattern: str, start: int = 0, stop: int | None = None) -> int | None:
        rx = re.compile(pattern)
        for n in range(start, len(self.lines) if stop is None else stop):
            if rx.search(self.lines[n]):
                return n
        return None

    def _table(self, table: str, index: int) -> tuple[int, int] | None:
        """The lines of the ``index``-th ``[[table]]`` (0-based): its header and its end."""
        header = -1
        for _ in range(index + 1):
            found = self._find(rf"^\s*\[\[\s*{table}\s*\]\]", header + 1)
            if found is None:
                return None
            header = found
        after = self._find(_HEADER, header + 1)
        return header, len(self.lines) if after is None else after

    def of(self, table: str | None, index: int = 0, key: str | None = None,
           value: str | None = None, nth: int = 1) -> int | None:
        """The 1-based line of ``[[table]]`` number ``index``, or of ``key`` in it (or at
        the top when ``table`` is None), or of the ``nth`` ``value`` after that key."""
        if table is None:
            first = self._find(_HEADER)
            span: tuple[int, int] | None = (0, len(self.lines) if first is None else first)
        else:
            span = self._table(table, index)
        if span is None:
            return None
        line: int | None = span[0]
        if key is not None:
            line = self._find(rf"^\s*{key}\s*=", span[0], span[1])
        if line is not None and value is not None:
            at: int | None = line - 1
            for _ in range(nth):
                at = self._find(re.escape(value), at + 1, span[1]) if at is not None else None
            line = line if at is None else at
        return None if line is None else line + 1


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = _Lines(text)
        try:
            self.data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # its message names the line and column
            raise GatewayError("config-invalid", f"{source}: {exc}") from None

    def fail(self, line: int | None, what: str) -> GatewayError:
        where = f"{self.source}: line {line}" if line else self.source
        return GatewayError("config-invalid", f"{where}: {what}")

    def date(self, value: Any, line: int | None, what: str) -> dt.date:
        if isinstance(value, str) and _DATE_RE.match(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        raise self.fail(line, f"{what} must be a date such as 2026-09-01, not {value!r}")

    def school_year(self) -> int:
        value = self.data.get("school_year")
        m = _YEAR_RE.match(value) if isinstance(value, str) else None
        if m is None or (int(m[1]) + 1) % 100 != int(m[2]):
            raise self.fail(self.lines.of(None, key="school_year"),
                            f"school_year must name one school year such as \"2026-27\", "
                            f"not {value!r}")
        return int(m[1])

    def periods(self, table: str, first: dt.date, last: dt.date) -> list[tuple[Period, int]]:
        rows = self.data.get(table, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise self.fail(self.lines.of(None, key=table), f"{table} must be a [[{table}]] "
                            f"table")
        out = []
        for i, row in enumerate(rows):
            head = self.lines.of(table, i)
            label = f"[[{table}]] {i + 1}"
            unknown = sorted(set(row) - PERIOD_KEYS)
            if unknown:
                raise self.fail(self.lines.of(table, i, unknown[0]) or head,
                                f"{label}: unknown field {unknown[0]} (fields: name, start, "
                                f"end)")
            name = row.get("name", "")
            if not isinstance(name, str) or (table == "term" and not name.strip()):
                raise self.fail(self.lines.of(table, i, "name") or head,
                                f"{label}: name must be a non-empty string")
            label += f" ({name})" if name else ""
            ends = {}
            for key in ("start", "end"):
                if key not in row:
                    raise self.fail(head, f"{label}: {key} is missing")
                line = self.lines.of(table, i, key)
                day = self.date(row[key], line, f"{label}: {key}")
                if not first <= day <= last:
                    raise self.fail(line, f"{label}: {key} {day} is outside the school year "
                                    f"{first} to {last}")
                ends[key] = day
            if ends["end"] < ends["start"]:
                raise self.fail(self.lines.of(table, i, "end"),
                                f"{label}: end {ends['end']} is before start {ends['start']}")
            out.append((Period(name.strip(), ends["start"], ends["end"]), i))
        return out

    def days(self, key: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, int | None]]:
        values = self.data.get(key, [])
        if not isinstance(values, list):
            raise self.fail(self.lines.of(None, key=key), f"{key} must be a list of dates")
        out = []
        seen: dict[str, int] = {}
        for v in values:
            seen[str(v)] = seen.get(str(v), 0) + 1
            line = self.lines.of(None, key=key, value=str(v), nth=seen[str(v)])
            day = self.date(v, line, f"{key}")
            if not first <= day <= last:
                raise self.fail(line, f"{key}: {day} is outside the school year {first} to "
                                f"{last}")
            out.append((day, line))
        return out


def _overlap(periods: list[tuple[Period, int]]) -> tuple[Period, Period, int] | None:
    ordered = sorted(periods, key=lambda p: p[0].start)
    for (a, _), (b, i) in zip(ordered, ordered[1:], strict=False):
        if b.start <= a.end:
            return a, b, i
    return None


def parse_school_year(text: str, source: str = "<calendar>") -> SchoolYear:
    """One school year from the text of a calendar file, checked; ``config-invalid``
    names the file, the line and the field of the first mistake."""
    r = _Reader(text, source)
    unknown = sorted(set(r.data) - TOP_KEYS)
    if unknown:
        raise r.fail(r.lines.of(None, key=unknown[0]),
                     f"unknown setting {unknown[0]} (a calendar holds school_year, inset, "
                     f"closed, [[term]] and [[half_term]])")
    start_year = r.school_year()
    first, last = dt.date(start_year, 9, 1), dt.date(start_year + 1, 8, 31)
    terms = r.periods("term", first, last)
    if not terms:
        raise r.fail(None, "no [[term]]: a school year has terms")
    halves = r.periods("half_term", first, last)
    for periods, table in ((terms, "term"), (halves, "half_term")):
        clash = _overlap(periods)
        if clash:
            a, b, i = clash
            raise r.fail(r.lines.of(table, i), f"[[{table}]] {b.name or i + 1} ({b.start} to "
                         f"{b.end}) overlaps {a.name} ({a.start} to {a.end})")
    inside: dict[int, list[Period]] = {i: [] for _, i in terms}
    for ht, i in halves:
        home = [(t, j) for t, j in terms if t.start < ht.start and ht.end < t.end]
        if not home:
            raise r.fail(r.lines.of("half_term", i),
                         f"[[half_term]] {ht.name or i + 1} ({ht.start} to {ht.end}) is not "
                         f"inside a term (after its first day and before its last)")
        inside[home[0][1]].append(ht)
    built = sorted((Term(t.name, t.start, t.end, tuple(sorted(inside[i], key=lambda p: p.start)))
                    for t, i in terms), key=lambda t: t.start)
    bank = england_bank_holidays(start_year)
    special: dict[str, frozenset[dt.date]] = {}
    for key in ("inset", "closed"):
        seen: set[dt.date] = set()
        for day, line in r.days(key, first, last):
            term = next((t for t in built if day in t), None)
            problem = (
                "is listed twice" if day in seen or (key == "closed" and day in special["inset"])
                else "is not in a term" if term is None
                else "is in a half term" if any(day in ht for ht in term.half_terms)
                else "is a weekend" if day.weekday() >= 5
                else f"is a bank holiday ({bank[day]})" if day in bank
                else None)
            if problem:
                raise r.fail(line, f"{key}: {day} ({day:%A}) {problem}")
            seen.add(day)
        special[key] = frozenset(seen)
    return SchoolYear(start_year, tuple(built), special["inset"], bank, special["closed"],
                      source)


def load_school_year(path: Path) -> SchoolYear:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayError("config-invalid", f"school calendar {path}: {exc}") from None
    return parse_school_year(text, str(path))


@functools.cache
def example_calendar() -> Calendar:
    """The calendar shipped as an example (``example-2026-27.toml``): a typical English
    LA's 2026-27, not any particular LA's."""
    text = resources.files("gateway.calendar").joinpath(EXAMPLE).read_text(encoding="utf-8")
    return Calendar([parse_school_year(text, EXAMPLE)])


def load_calendar(path: Path | str | None = None) -> Calendar:
    """An LA's calendar: one TOML file (one school year), or a folder of them (``*.toml``,
    one school year each). None gives the shipped example."""
    if path is None:
        return example_calendar()
    path = Path(path)
    files: Iterable[Path] = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    years = [load_school_year(p) for p in files]
    if not years:
        raise GatewayError("config-invalid", f"school calendar {path}: no *.toml file in it")
    return Calendar(years)


def calendar_for(settings: Settings) -> Calendar:
    """The calendar the settings name (``calendar_file``, resolved against ``home``)."""
    f = settings.calendar_file
    return load_calendar(None if f is None else settings.path(f))
