"""How well the name-shape model (``gateway.matching.namelike``) tells real names from damage.

    python -m bench.namelike_eval [--folds 10] [--seed 7]

Cross-validated: the training names are split into folds; each fold is scored by a model
trained on the others, so every real name is scored as one the model has never seen (what
an unrecorded twin's rare name is). Damaged spellings are the synthetic generator's OCR
damage (``gateway.testing.synth.ocr_damage``) of the generator's own forenames. Prints, for
thresholds around ``NAME_LIKE_BITS``, the share of unseen real names that would be taken
for damage and the share of damaged spellings that would be.

Random folds flatter the model: a name left out still has its culture's other names in
training. So it also leaves out one Faker locale at a time (the names only that locale
has) and prints the locales whose names are most often taken for damage: that is what
names from a culture the lists lack would meet.
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
    by_locale = _locale_names()
    owners: dict[str, int] = {}
    for names_of in by_locale.values():
        for n in names_of:
            owners[n] = owners.get(n, 0) + 1
    rows = []
    for locale, names_of in by_locale.items():
        own = {n for n in names_of if owners[n] == 1}
        if len(own) < 20:
            continue
        nl.build([n for n in names if n not in own])
        rows.append((sum(nl.name_bits(n) < nl.NAME_LIKE_BITS for n in own) / len(own),
                     locale, len(own)))
    nl.build()
    rows.sort(reverse=True)
    print(f"one locale left out at a time ({len(rows)} locales with 20 or more names of their "
          f"own): share of its names below NAME_LIKE_BITS")
    print("| locale | its own names | taken for damage |")
    print("|---|---|---|")
    for share, locale, n in rows[:10]:
        print(f"| {locale} | {n} | {share:.3f} |")
    median = sorted(r[0] for r in rows)[len(rows) // 2]
    print(f"median over locales: {median:.3f}")


def _locale_names() -> dict[str, set[str]]:
    """Each Faker person locale's normalised first names (as ``training_names`` keeps them)."""
    import importlib
    import pkgutil

    import faker.providers.person as person

    keep = set(nl.training_names())
    out: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{info.name}"),
                           "Provider", None)
        found: set[str] = set()
        for attr in ("first_names", "first_names_male", "first_names_female",
                     "first_names_nonbinary"):
            names = vars(provider).get(attr) if provider is not None else None
            if isinstance(names, (dict, tuple, list)):
                for n in names:
                    if isinstance(n, str):
                        found.update(p for p in nz.name_parts(n) if p in keep)
        if found:
            out[info.name] = found
    return out


if __name__ == "__main__":
    main()
