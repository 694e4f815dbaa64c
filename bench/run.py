"""``make bench``: every benchmark, on both backends, into ``bench/RESULTS.md``.

    python -m bench.run [--quick] [--out bench/RESULTS.md]

Starts a throwaway PostgreSQL server (as the tests do) for the PostgreSQL runs. Each figure is
printed beside its baseline measured in the same run: a bare aiohttp handler for HTTP, and the
cryptography and lxml primitives for the per-message cost floor. ``--quick`` uses small sizes
(a minute or two) for CI; the full run takes a few minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

from bench import (
    ctf_bench,
    ctf_worst,
    inbound_bench,
    listing_bench,
    load,
    outbound_bench,
    primitives,
)
from bench.common import ROOT, machine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = ap.parse_args(argv)
    q = args.quick
    sizes = {"inbound": 600 if q else 3000, "outbound": 300 if q else 2000,
             "listing": 10_000 if q else 100_000, "pupils": 50 if q else 500}
    t0 = time.perf_counter()
    from tests.pgserver import postgres_server

    out: list[str] = [
        "# Benchmark results", "",
        f"Written by `python -m bench.run{' --quick' if q else ''}` (`make bench`) on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.", "",
        f"Machine: {machine()}", ""]
    prim = primitives.run()
    out += ["## Per-message floor (same run)", "",
            "| primitive | ms |", "|---|---|",
            f"| ECDSA P-256 sign (cryptography) | {prim['ecdsa_sign_ms']:.3f} |",
            f"| ECDSA P-256 verify (cryptography) | {prim['ecdsa_verify_ms']:.3f} |",
            f"| lxml parse + exclusive C14N of a {prim['bytes']}-byte enquiry | "
            f"{prim['lxml_parse_c14n_ms']:.3f} |",
            f"| floor per message (sign + verify + 2 × parse/C14N) | "
            f"{prim['floor_per_msg_ms']:.3f} (= {1000 / prim['floor_per_msg_ms']:.0f}/s on one "
            f"core) |", ""]
    rows: dict[str, dict[str, dict[str, float]]] = {}
    with postgres_server() as pg:
        for backend in ("sqlite", "postgres"):
            def db(name: str) -> str | None:
                return pg.create_database(f"{name}_{int(time.time() * 1000) % 10**9}") \
                    if backend == "postgres" else None  # noqa: B023
            print(f"[{backend}] inbound ...", flush=True)
            pg_pid = int((pg.data / "postmaster.pid").read_text().split()[0]) \
                if backend == "postgres" else None
            r = {"inbound": inbound_bench.run(sizes["inbound"], 32, False, 1, db("inb"),
                                              scaling=(1, 2) if q else (1, 2, 4),
                                              db_pid=pg_pid)}
            print(f"[{backend}] outbound ...", flush=True)
            r["outbound"] = outbound_bench.run(sizes["outbound"], db("outb"))
            print(f"[{backend}] listing ...", flush=True)
            r["listing"] = listing_bench.run(sizes["listing"], db("list"))
            print(f"[{backend}] ctf ...", flush=True)
            r["ctf"] = ctf_bench.run(sizes["pupils"], db("ctf"))
            rows[backend] = r
    s, p = rows["sqlite"], rows["postgres"]
    si, pi = s["inbound"], p["inbound"]
    out += ["## Inbound: server CPU per accepted message (same run)", "",
            f"Load generator: {load.client_name()}; {sizes['inbound']} signed enquiries (one "
            f"child each), 32 in flight, each message sent once. CPU = utime + stime of the "
            f"server process and its workers from /proc, over the messages it accepted.", "",
            inbound_bench.report(si, "SQLite WAL, synchronous=FULL").split("\n", 3)[3], "",
            "PostgreSQL (the gateway's own CPU; the database server's is the last row):", "",
            inbound_bench.report(pi, "PostgreSQL").split("\n", 3)[3], "",
            f"PostgreSQL / SQLite: server CPU per message {pi['gw_cpu_us'] / si['gw_cpu_us']:.2f}"
            f"× (with the database server's own, "
            f"{(pi['gw_cpu_us'] + pi['gw_db_cpu_us']) / si['gw_cpu_us']:.2f}×); messages/s "
            f"{pi['gw_rps'] / si['gw_rps']:.2f}× (goal: within 1.5×).", ""]
    out += ["## Gateway figures, both backends", "",
            "| figure | SQLite | PostgreSQL | baseline (same run) |", "|---|---|---|---|",
            f"| inbound server CPU µs per accepted message (1 process) | {si['gw_cpu_us']:.0f} | "
            f"{pi['gw_cpu_us']:.0f} (+{pi['gw_db_cpu_us']:.0f} in PostgreSQL) | bare aiohttp "
            f"{si['bare_cpu_us']:.0f}; floor {si['floor_us']:.0f} |",
            f"| inbound messages/s ({sizes['inbound']} signed enquiries, 32 in flight, 1 process)"
            f" | {si['gw_rps']:.0f} | {pi['gw_rps']:.0f} | bare aiohttp "
            f"{si['bare_rps']:.0f}/s with the same client |",
            f"| inbound p50 / p99 ms at full load | {si['gw_p50_ms']:.1f} / "
            f"{si['gw_p99_ms']:.1f} | {pi['gw_p50_ms']:.1f} / "
            f"{pi['gw_p99_ms']:.1f} | bare {si['bare_p50_ms']:.1f} / "
            f"{si['bare_p99_ms']:.1f} |",
            f"| inbound p50 / p99 ms at half load | {si['half_p50_ms']:.1f} / "
            f"{si['half_p99_ms']:.1f} | {pi['half_p50_ms']:.1f} / "
            f"{pi['half_p99_ms']:.1f} | |",
            f"| XML-DSig sign + verify per message (ms) | {si['sign_ms']:.2f} + "
            f"{si['verify_ms']:.2f} | | floor {prim['floor_per_msg_ms']:.2f} |",
            f"| outbound messages/s delivered ({sizes['outbound']}, verified receipts) | "
            f"{s['outbound']['rate']:.0f} | {p['outbound']['rate']:.0f} | |",
            f"| outbound CPU ms per delivered message, sender + receiver (from /proc) | "
            f"{s['outbound']['sender_cpu_ms']:.2f} + {s['outbound']['receiver_cpu_ms']:.2f} | "
            f"{p['outbound']['sender_cpu_ms']:.2f} + {p['outbound']['receiver_cpu_ms']:.2f} | "
            f"1,000/s on 2 cores needs < 2 in all |",
            f"| outbox listing p95 ms ({sizes['listing']} messages, filtered, paginated) | "
            f"{s['listing']['p95_ms']:.2f} | {p['listing']['p95_ms']:.2f} | |",
            f"| CTF accept s ({int(s['ctf']['pupils'])} pupils, {s['ctf']['mb']:.1f} MB) | "
            f"{s['ctf']['gw_accept_s']:.2f} | {p['ctf']['gw_accept_s']:.2f} | xmlsec1 --verify "
            f"{s['ctf']['xmlsec_s']:.2f} s |",
            f"| CTF accept peak RSS MB | {s['ctf']['gw_rss']:.0f} | {p['ctf']['gw_rss']:.0f} | "
            f"xmlsec1 {s['ctf']['xmlsec_rss']:.0f} MB; Python importing the gateway "
            f"{s['ctf']['py_import_rss']:.0f} MB |", ""]
    print("ctf worst cases ...", flush=True)
    out += ["## CTF worst cases (docs/ctf-limits.md)", "",
            f"`python -m bench.ctf_worst{' --quick' if q else ''}`:", "",
            ctf_worst.report(ctf_worst.run(q), q), ""]
    print("matching ...", flush=True)
    match_args = ["--quick"] if q else ["--records", "100000", "--queries", "20000"]
    res = subprocess.run([sys.executable, "-m", "bench.matching_bench", *match_args],
                         capture_output=True, text=True, cwd=ROOT, timeout=900)
    out += ["## Matching (pure library; the same on both backends)", "",
            f"`python -m bench.matching_bench {' '.join(match_args)}`:", "", "```",
            res.stdout.strip() or res.stderr.strip()[-2000:], "```", ""]
    out += [f"Total bench time: {time.perf_counter() - t0:.0f} s.", ""]
    Path(args.out).write_text("\n".join(out), encoding="utf-8")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
