"""Command-line entry points: batch matching and the health/roll cross-check.

``add_cli(subparsers)`` registers ``match`` and ``crosscheck`` on the gateway's main
parser; ``python -m gateway.cli.matching`` runs them on their own.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gateway.cli import checks
from gateway.core.errors import GatewayError
from gateway.matching.config import MatchConfig
from gateway.matching.crosscheck import MAX_CANDIDATES, crosscheck
from gateway.matching.errors import MatchInputError
from gateway.matching.matcher import MATCH, Matcher, default_workers
from gateway.matching.records import ReadReport, Record, read_csv

log = logging.getLogger(__name__)


def match_files(
    records_csv: str | Path, queries_csv: str | Path, out_csv: str | Path,
    config: MatchConfig | None = None, workers: int = 1, bad_dates: str = "reject",
    warnings: list[str] | None = None,
) -> int:
    """Match every query against the records; write ``query_id,predicted_record_id,score``.

    ``predicted_record_id`` is empty unless the best candidate is in the ``match`` band
    (``score`` is then the best candidate's score, or empty if there was none).
    ``workers`` forked processes share a large batch (the ``match`` command uses one per
    CPU; a library caller running other threads must keep the default of 1).
    ``bad_dates="blank"`` reads a row with an unreadable date of birth as if it were missing
    (the ``match`` command's default) and appends a sentence about it to ``warnings``.
    Returns the number of queries matched.
    """
    config = config or MatchConfig()
    records = _read(records_csv, "record_id", config, "records", bad_dates, warnings)
    queries = _read(queries_csv, "query_id", config, "queries", bad_dates, warnings)
    matcher = Matcher.from_records(records, config)
    matched = 0
    rows = []
    results = matcher.match_many(queries, limit=2, explain=False, workers=workers)
    for query, cands in zip(queries, results, strict=True):
        best = cands[0] if cands else None
        pred = best.record_id if best is not None and best.band == MATCH else ""
        matched += bool(pred)
        rows.append((query.record_id, pred, "" if best is None else f"{best.score:.2f}"))
    _write_csv(out_csv, ["query_id", "predicted_record_id", "score"], rows)
    log.info("matched %d of %d queries against %d records", matched, len(queries), len(records))
    return matched


def crosscheck_files(
    health_csv: str | Path, rolls_csv: str | Path, out_csv: str | Path,
    as_of: dt.date, config: MatchConfig | None = None, bad_dates: str = "reject",
    warnings: list[str] | None = None,
) -> int:
    """Write the cross-check CSV; returns the number of children listed.

    ``bad_dates`` and ``warnings`` work as in ``match_files``.
    """
    config = config or MatchConfig()
    health = _read(health_csv, "record_id", config, "health", bad_dates, warnings)
    rolls = _read(rolls_csv, "record_id", config, "rolls", bad_dates, warnings)
    result = crosscheck(health, rolls, as_of, config)
    header = ["health_record_id", "reason"]
    for i in range(1, MAX_CANDIDATES + 1):
        header += [f"candidate_{i}_record_id", f"candidate_{i}_score", f"candidate_{i}_band"]
    rows = []
    for row in result:
        cells = [row.health_record_id, row.reason]
        for i in range(MAX_CANDIDATES):
            if i < len(row.candidates):
                c = row.candidates[i]
                cells += [c.record_id, f"{c.score:.2f}", c.band]
            else:
                cells += ["", "", ""]
        rows.append(cells)
    _write_csv(out_csv, header, rows)
    return len(rows)


def _read(path: str | Path, id_field: str, config: MatchConfig, kind: str, bad_dates: str,
          warnings: list[str] | None) -> list[Record]:
    report = ReadReport()
    records = read_csv(path, id_field, config, kind, bad_dates, report)
    name = os.path.basename(str(path))
    said: list[str] = []
    missing = [c for c in ("dob", "forename", "surname") if c not in report.columns]
    if missing:
        said.append(f"{kind}-column-missing: {name} has no {' or '.join(missing)} column, so "
                    "its rows are matched without them; if the file has them under another "
                    "heading, rename it to the documented one.")
    if report.blanked:
        rows = report.blanked  # ascending, one per row
        shown = ", ".join(str(r) for r in rows[:20]) + (" ..." if len(rows) > 20 else "")
        said.append(f"{kind}-bad-date: {name} has {len(rows)} row(s) with an unreadable "
                    f"date of birth, read as missing (rows {shown}); correct them and run "
                    "again, or use --strict-dates to reject such a file.")
    for sentence in said:
        log.warning("%s", sentence)
    if warnings is not None:
        warnings.extend(said)
    return records


def _write_csv(path: str | Path, header: list[str], rows: Sequence[Sequence[str]]) -> None:
    # Write to a temporary file and rename, so a half-written output never looks complete.
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".matching-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _config(args: argparse.Namespace) -> MatchConfig:
    path = getattr(args, "config", None)
    return MatchConfig.from_toml(path) if path else MatchConfig()


def _as_of(text: str | None) -> dt.date:
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise MatchInputError("bad-as-of", "--as-of must be a date written YYYY-MM-DD.") from exc


def _bad_dates(args: argparse.Namespace) -> str:
    return "reject" if args.strict_dates else "blank"


def _warn(warnings: list[str]) -> None:
    for sentence in warnings:
        print(f"WARNING {sentence}", file=sys.stderr)


def cmd_match(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    checks.writable_file(args.out, "--out")
    try:
        n = match_files(args.records, args.queries, args.out, _config(args),
                        args.workers or default_workers(), _bad_dates(args), warnings)
    except MatchInputError as exc:
        print(f"REJECTED {exc.code}: {exc.sentence}", file=sys.stderr)
        return 1
    _warn(warnings)
    print(f"matched {n} queries; results in {args.out}")
    return 0


def cmd_crosscheck(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    checks.writable_file(args.out, "--out")
    try:
        n = crosscheck_files(args.health, args.rolls, args.out, _as_of(args.as_of),
                             _config(args), _bad_dates(args), warnings)
    except MatchInputError as exc:
        print(f"REJECTED {exc.code}: {exc.sentence}", file=sys.stderr)
        return 1
    _warn(warnings)
    print(f"{n} children of compulsory school age match no current roll; see {args.out}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``match`` and ``crosscheck`` subcommands."""
    p = subparsers.add_parser("match", help="match children against held records (batch)")
    p.add_argument("--records", required=True, help="records CSV (record_id, upn, ...)")
    p.add_argument("--queries", required=True, help="queries CSV (query_id, upn, ...)")
    p.add_argument("--out", required=True, help="output CSV")
    # default=SUPPRESS: "cme-gateway --config F match ..." keeps the main parser's F
    p.add_argument("--config", default=argparse.SUPPRESS,
                   help="gateway TOML file with a [matching] table")
    p.add_argument("--workers", type=checks.whole_number(1, 1024), default=None,
                   help="processes sharing a large batch (default: one per CPU)")
    p.set_defaults(func=cmd_match)
    c = subparsers.add_parser(
        "crosscheck", help="list health-registered children of school age on no roll")
    c.add_argument("--health", required=True, help="health registrations CSV (record_id, ...)")
    c.add_argument("--rolls", required=True, help="school rolls CSV (record_id, ...)")
    c.add_argument("--out", required=True, help="output CSV")
    c.add_argument("--as-of", help="date to assess school age on (default today)")
    c.add_argument("--config", default=argparse.SUPPRESS,
                   help="gateway TOML file with a [matching] table")
    c.set_defaults(func=cmd_crosscheck)
    for sub in (p, c):
        sub.add_argument("--strict-dates", action="store_true",
                         help="reject a file with an unreadable date of birth (default: read "
                              "it as missing and list the rows)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.cli.matching")
    sub = parser.add_subparsers(dest="command", required=True)
    add_cli(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except GatewayError as exc:
        print(exc.line(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
