"""Head to head: Splink, set up in the standard way, against our matcher on the same data.

    make bench-splink        # creates .venv-compare with Splink, then runs this
    python -m bench.splink_compare [--records 100000] [--queries 20000] [--seed 2]

The issue asks the matcher to beat "a well-known probabilistic linkage library, set up in
the standard way" on F1 and on claims made for children who have no record. This runs
Splink (DuckDB backend) on the synthetic held-out split the matching benchmark uses:

* the same light cleaning any Splink user does: names folded to lower-case ASCII,
  postcodes upper case as ``OUTWARD INWARD``, dates ISO (a partial date is null: Splink's
  date comparison reads full dates only);
* the standard comparisons from ``splink.comparison_library``: ``NameComparison`` for
  forename and surname with term-frequency adjustment, ``DateOfBirthComparison``,
  ``PostcodeComparison``, exact match on sex, middle name and UPN;
* blocking on forename + date of birth, surname + date of birth, postcode, forename +
  surname, and UPN;
* training as the Splink tutorials do it: the prior from deterministic rules, u from
  random sampling, m by expectation maximisation on two blocks;
* each enquiry is linked to its best-scoring record (highest match weight) when that
  record's match probability is at least 0.5, Splink's default reading of "a match"; the
  figures at 0.9 and 0.99 are printed too, since Splink's wrong-child rate depends on
  that choice.

Splink is not a dependency of the gateway; this is a benchmark only. Nothing here is
tuned to make either side look better: the settings are the tutorial ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.matching_bench import HELDOUT_SEED, machine, predict, score
from gateway.matching import normalise as nz
from gateway.matching.matcher import Matcher
from gateway.matching.records import Record
from gateway.testing.synth import TEST_SETS, generate_set


def _clean_name(text: str | None) -> str | None:
    parts = nz.name_parts(text)
    return " ".join(parts).lower() if parts else None


def _clean_postcode(text: str | None) -> str | None:
    pc = nz.postcode(text)
    return f"{pc[:-3]} {pc[-3:]}" if len(pc) >= 5 else None


def _row(rec: Record) -> dict[str, Any]:
    fparts = nz.name_parts(rec.forename)
    d = rec.dob
    return {
        "unique_id": rec.record_id,
        "first_name": fparts[0].lower() if fparts else None,
        "middle_name": _clean_name(rec.middle_names) or (
            " ".join(fparts[1:]).lower() if len(fparts) > 1 else None),
        "surname": _clean_name(rec.surname),
        "dob": d.as_date().isoformat() if d is not None and d.is_full else None,  # type: ignore[union-attr]
        "sex": nz.sex(rec.sex) or None,
        "postcode": _clean_postcode(rec.postcode),
        "upn": nz.upn(rec.upn) or None,
    }


def splink_predictions(records: list[Record], queries: list[Record],
                       thresholds: Sequence[float]) -> dict[float, dict[str, str | None]]:
    import pandas as pd
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("middle_name"),
            cl.ExactMatch("upn"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "dob"),
            block_on("surname", "dob"),
            block_on("postcode"),
            block_on("first_name", "surname"),
            block_on("upn"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    left = db_api.register(pd.DataFrame([_row(r) for r in records]),
                           dataset_display_name="records")
    right = db_api.register(pd.DataFrame([_row(q) for q in queries]),
                            dataset_display_name="queries")
    linker = Linker([left, right], settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    pairs = linker.inference.predict(
        threshold_match_probability=min(thresholds)).as_pandas_dataframe()
    # Best record per enquiry by match weight (the probability saturates at 1.0).
    best: dict[str, tuple[float, str, float]] = {}
    for row in pairs.itertuples(index=False):
        if str(row.source_dataset_l) == "queries":
            q, r = str(row.unique_id_l), str(row.unique_id_r)
        else:
            q, r = str(row.unique_id_r), str(row.unique_id_l)
        weight, prob = float(row.match_weight), float(row.match_probability)
        if q not in best or weight > best[q][0] or (weight == best[q][0] and r < best[q][1]):
            best[q] = (weight, r, prob)
    return {t: {q.record_id: best[q.record_id][1]
                if q.record_id in best and best[q.record_id][2] >= t else None
                for q in queries}
            for t in thresholds}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=HELDOUT_SEED)
    ap.add_argument("--population", "--set", dest="population", choices=list(TEST_SETS),
                    default="england",
                    help="test set (bench/matching_bench.py): realistic, england, concentrated")
    args = ap.parse_args(argv)
    try:
        import splink
    except ImportError:
        print("splink is not installed: run `make bench-splink`, which installs it into "
              ".venv-compare (the gateway itself does not need it).", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    print(f"splink {splink.__version__}; records {args.records}, queries {args.queries}, "
          f"seed {args.seed}, test set {args.population}")
    data = generate_set(args.population, args.records, args.queries, args.seed)
    t0 = time.perf_counter()
    ours = predict(Matcher.from_records(data.records), data)
    t1 = time.perf_counter()
    theirs = splink_predictions(data.records, data.queries, (0.5, 0.9, 0.99))
    t2 = time.perf_counter()
    rows = [("this matcher", ours, t1 - t0)]
    rows += [(f"splink p>={t:g}", preds, t2 - t1) for t, preds in theirs.items()]
    for name, preds, secs in rows:
        s = score(data, preds)
        print(f"{name:14s} F1 {s['f1']:.4f}  precision {s['precision']:.4f}  recall "
              f"{s['recall']:.4f}  wrong-child {s['wrong_child']:.4f} "
              f"({s['wrong_child_household']:.4f} where a sibling/twin is held)  "
              f"{secs:.0f} s incl. training/index")
    return 0


if __name__ == "__main__":
    sys.exit(main())
