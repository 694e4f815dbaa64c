"""The ``Record`` type and reading record/query CSV files with limits.

A CSV file may have any subset of the known columns in any order; unknown columns are
ignored. Only the id column (``record_id`` or ``query_id``) is required.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.matching.config import MatchConfig
from gateway.matching.errors import MatchInputError
from gateway.matching.normalise import PartialDate, coerce_date

log = logging.getLogger(__name__)

FIELDS = (
    "upn", "former_upn", "nhs_number", "surname", "forename", "middle_names", "dob", "sex",
    "postcode", "address", "laestab", "on_roll_from", "on_roll_to",
)
DATE_FIELDS = ("dob", "on_roll_from", "on_roll_to")
# Other names that extracts give the known columns. A heading is read case-insensitively,
# and an alias is used only when the file has no column under the documented name.
ALIASES = {
    "date_of_birth": "dob", "dateofbirth": "dob", "birth_date": "dob", "birthdate": "dob",
    "gender": "sex", "first_name": "forename", "firstname": "forename",
    "given_name": "forename", "last_name": "surname", "lastname": "surname",
    "family_name": "surname", "middle_name": "middle_names", "middlenames": "middle_names",
    "post_code": "postcode", "former_upns": "former_upn", "d_o_b": "dob", "gender_code": "sex",
    "legal_surname": "surname", "legal_forename": "forename",
}
BAD_DATE_POLICIES = ("reject", "blank")


@dataclass(frozen=True)
class Record:
    """One child as held by the authority (a roll or CME record) or as asked about (query).

    Text fields are kept as given (the matcher normalises them); date fields are parsed to
    ``PartialDate`` on construction, from a ``date``, a ``PartialDate`` or a string.
    """

    record_id: str
    upn: str = ""
    surname: str = ""
    forename: str = ""
    middle_names: str = ""
    dob: PartialDate | None = None
    sex: str = ""
    postcode: str = ""
    address: str = ""
    laestab: str = ""
    on_roll_from: PartialDate | None = None
    on_roll_to: PartialDate | None = None
    former_upn: str = ""
    nhs_number: str = ""  # the consistent child identifier (Children Act 2004 s.16LC)

    def __post_init__(self) -> None:
        for name in DATE_FIELDS:
            object.__setattr__(self, name, coerce_date(getattr(self, name)))
        for f in dataclasses.fields(self):
            if f.name not in DATE_FIELDS and getattr(self, f.name) is None:
                object.__setattr__(self, f.name, "")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], id_field: str = "record_id") -> Record:
        """Build from a mapping such as a CSV row; unknown keys are ignored."""
        kwargs = {k: data[k] for k in FIELDS if data.get(k) not in (None, "")}
        return cls(record_id=str(data[id_field]), **kwargs)

    def to_dict(self) -> dict[str, str]:
        out = {"record_id": self.record_id}
        for name in FIELDS:
            value = getattr(self, name)
            out[name] = "" if value is None else str(value)
        return out


@dataclass
class ReadReport:
    """What reading a file noticed without rejecting it."""

    columns: list[str] = dataclasses.field(default_factory=list)  # headings as understood
    blanked: list[int] = dataclasses.field(default_factory=list)  # rows whose dob was blanked


def read_csv(
    path: str | Path, id_field: str, config: MatchConfig, kind: str = "records",
    bad_dates: str = "reject", report: ReadReport | None = None,
) -> list[Record]:
    """Read a records or queries CSV, rejecting it with a ``MatchInputError`` if it is bad.

    ``kind`` prefixes the error codes (``records-missing-column``, ``queries-bad-date`` ...).
    With ``bad_dates="blank"`` an unreadable date of birth does not reject the file: the row
    is read with it missing, and its row number goes into ``report.blanked``. An
    unreadable roll date still rejects the file: read as missing it would mean "on roll".
    """
    return list(iter_csv(path, id_field, config, kind, bad_dates, report))


_HEADING_SEPARATORS = re.compile(r"[\s\-.]+")


def _header(fieldnames: Sequence[str] | None, id_field: str, kind: str,
            name: str) -> list[str]:
    """Headings in lower case with spaces and hyphens as ``_`` ("Date of Birth" is
    ``date_of_birth``), aliases read as their field when the field's own heading is absent.
    Two headings for one known field (or the id) are refused: which one to believe would be
    a guess. Repeated unknown headings are ignored like any unknown column."""
    header = [_HEADING_SEPARATORS.sub("_", (h or "").strip(" .").lower())
              for h in fieldnames or []]
    present = set(header)
    header = [ALIASES[h] if h in ALIASES and ALIASES[h] not in present else h for h in header]
    seen: set[str] = set()
    for h in header:
        if h in seen and (h in FIELDS or h == id_field):
            raise MatchInputError(
                f"{kind}-duplicate-column",
                f"{name} has more than one column for {h}; keep one and remove the others.")
        seen.add(h)
    return header


def iter_csv(
    path: str | Path, id_field: str, config: MatchConfig, kind: str = "records",
    bad_dates: str = "reject", report: ReadReport | None = None,
) -> Iterator[Record]:
    if bad_dates not in BAD_DATE_POLICIES:
        raise ValueError(f"bad_dates must be one of {BAD_DATE_POLICIES}")
    name = os.path.basename(str(path))
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise MatchInputError(
            f"{kind}-unreadable", f"{name} cannot be opened ({exc.strerror})."
        ) from exc
    if size > config.max_file_bytes:
        raise MatchInputError(
            f"{kind}-too-big",
            f"{name} is {size} bytes; the limit is {config.max_file_bytes} bytes.",
        )
    seen: set[str] = set()
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = _header(reader.fieldnames, id_field, kind, name)
            reader.fieldnames = header
            if report is not None:
                report.columns = header
            if id_field not in header:
                raise MatchInputError(
                    f"{kind}-missing-column",
                    f"{name} has no {id_field} column (columns found: {len(header)}).",
                )
            for rowno, row in enumerate(reader, start=2):
                if rowno - 1 > config.max_rows:
                    raise MatchInputError(
                        f"{kind}-too-many-rows",
                        f"{name} has more than {config.max_rows} rows.",
                    )
                yield _row_to_record(row, id_field, kind, name, rowno, seen, bad_dates,
                                     report)
    except UnicodeDecodeError as exc:
        raise MatchInputError(f"{kind}-not-utf8", f"{name} is not UTF-8 text.") from exc
    except csv.Error as exc:
        raise MatchInputError(f"{kind}-bad-csv", f"{name} is not valid CSV ({exc}).") from exc
    log.info("read %s file: %d rows", kind, len(seen))


def _row_to_record(
    row: dict[str, Any], id_field: str, kind: str, name: str, rowno: int, seen: set[str],
    bad_dates: str = "reject", report: ReadReport | None = None,
) -> Record:
    # csv puts surplus cells under the None key. Even an empty one is refused: with a cell
    # too many, every value after the extra one may have slid into the wrong column.
    if None in row:
        raise MatchInputError(f"{kind}-bad-row", f"{name} row {rowno} has more cells than headers.")
    rid = (row.get(id_field) or "").strip()
    if not rid:
        raise MatchInputError(f"{kind}-missing-id", f"{name} row {rowno} has an empty {id_field}.")
    if rid in seen:
        raise MatchInputError(
            f"{kind}-duplicate-id", f"{name} row {rowno} repeats an {id_field} seen earlier."
        )
    seen.add(rid)
    clean = {k: (v or "").strip() for k, v in row.items() if k in FIELDS}
    for field_name in DATE_FIELDS:
        try:
            coerce_date(clean.get(field_name) or None)
        except ValueError as exc:
            # Only a date of birth is blanked: a blank roll date would read as "on roll".
            if bad_dates == "blank" and field_name == "dob":
                clean[field_name] = ""
                if report is not None:
                    report.blanked.append(rowno)
                continue
            # The sentence names the row and column only: never the value (it is personal).
            raise MatchInputError(
                f"{kind}-bad-date",
                f"{name} row {rowno} has an unreadable date in {field_name}.",
            ) from exc
    clean[id_field] = rid
    return Record.from_dict(clean, id_field=id_field)
