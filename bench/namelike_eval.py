"""How well the name-shape model (``gateway.matching.namelike``) tells real names from damage.

    python -m bench.namelike_eval [--folds 10] [--seed 7]

Cross-validated: the training names are split into folds; each fold is scored by a model
trained on the others, so every real name is scored as one the model has never seen (what
an unrecorded twin's rare name is). Damaged spellings are the synthetic generator's OCR
damage (``gateway.testing.synth.ocr_damage``) of the generator's own forenames, and the
share of them that heavy damage alone explains. Prints, for thresholds around
``NAME_LIKE_BITS``, the share of unseen real names that would be taken for damage and the
share of damaged spellings that would be.
"""

from __future__ import annotations

import argparse
import random

from bench.common import machine
from gateway.matching import namelike as nl
from gateway.matching import normalise as nz
from gateway.testing.synth import ocr_damage
from gateway.testing.synth_names import GROUPS, MORE_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    names = nl.training_names()
    rng = random.Random(args.seed)
    order = names[:]
    rng.shuffle(order)
    real: list[tuple[float, str]] = []
    for f in range(args.folds):
        held = set(order[f::args.folds])
        nl.build([n for n in names if n not in held])
        real.extend((nl.name_bits(n), n) for n in held)
    nl.build()
    known = set(names)
    synth: set[str] = set()
    for g in GROUPS.values():
        synth.update(p for n in g[1] + g[2] for p in nz.name_parts(n))
    for more in MORE_NAMES.values():
        synth.update(p for n in more[0] + more[1] for p in nz.name_parts(n))
    damaged: list[float] = []
    for name in sorted(synth):
        for _ in range(10):
            parts = nz.name_parts(ocr_damage(name, rng))
            if parts and parts[0] not in known and parts[0] not in synth:
                damaged.append(nl.name_bits(parts[0]))
    real.sort()
    print(f"machine: {machine()}")
    print(f"{len(names)} training names, {args.folds}-fold; {len(damaged)} OCR-damaged "
          f"spellings of {len(synth)} generator forenames")
    print("| threshold (bits/letter) | unseen real names taken for damage | damaged spellings "
          "taken for damage |")
    print("|---|---|---|")
    for t in (-5.0, -5.25, -5.5, -5.75, -6.0, -6.5):
        r = sum(b < t for b, _ in real) / len(real)
        d = sum(b < t for b in damaged) / len(damaged)
        mark = " (NAME_LIKE_BITS)" if t == nl.NAME_LIKE_BITS else ""
        print(f"| {t}{mark} | {r:.4f} | {d:.3f} |")
    print("real names scoring lowest:", ", ".join(f"{n} {b:.2f}" for b, n in real[:12]))


if __name__ == "__main__":
    main()
