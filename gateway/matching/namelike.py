"""Does a spelling look like a name at all? A character model of real forenames.

Only the opt-in matching setting ``heavy_damage`` uses it (``MatchConfig.heavy_damage``).
The matcher has to tell a forename damaged by a scanner ("Drwtfl" for Daniel) from a real
name that neither the records nor the nickname lists hold (Hanif, an unrecorded twin's).
Both are spellings nobody on file has. What separates them is how they are spelt: real
names are made of letter sequences that names use; OCR and keying damage puts letters
where no name has them ("RWT", "TFL").

The model is a letter trigram model, interpolated down to bigrams, single letters and a
uniform floor (Witten-Bell style: a context seen n times with t different next letters
trusts its own counts n / (n + t)), trained on some 20,000 forenames: every Latin-script
first name in Faker's person providers (about 80 locales, MIT licence; the "names" extra
pins the release) and the nickname lists the matcher already uses. A spelling's score is
its mean log2 probability per letter (the end of the name counts as a letter). Why written
here: the general toolkits that have such models (nltk.lm) are large, slow to train and a
dependency the gateway would carry for fifty lines.

``NAME_LIKE_BITS`` = -5.5 was set on real names the model had not seen (10-fold cross-
validation over its training names): 0.4% of them score below it, and about 38% of the
generator's OCR-damaged spellings do (``python -m bench.namelike_eval``). That figure
flatters it: with one Faker locale left out at a time, a locale's own names score below it
1.3% of the time at the median and up to 10% (Igbo, Zulu, Pakistani English, Azerbaijani
names), and names Faker holds only in other scripts (Chinese, Vietnamese) fare worse. Why
the rule is opt-in. Hanif scores -3.3, Nilou -4.1, Oluwaseun -4.2; "Drwtfl" -7.9.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import threading
from collections import Counter
from functools import lru_cache

from gateway.matching import normalise as nz
from gateway.matching.names import BRITISH_NICKNAMES

# A spelling scoring below this (mean log2 probability per letter) is not shaped like a
# name: see the module's docstring for how it was set.
NAME_LIKE_BITS = -5.5
_ORDER = 3
_START, _END = "^", "$"
_ALPHABET = 28  # 26 letters, the end mark, and anything else
_MIN_TRAINING_NAMES = 5000
_VOWELS = frozenset("AEIOUY")

_lock = threading.Lock()
_model: tuple[Counter[tuple[str, str]], Counter[str], Counter[str]] | None = None


def _faker_forenames() -> set[str]:
    """Every first name in Faker's person providers, all locales."""
    try:  # a large package, only needed for the opt-in heavy-damage rule
        import faker.providers.person as person
    except ImportError as exc:
        raise RuntimeError(
            "the matching setting heavy_damage needs Faker's name lists: install the "
            "gateway with its 'names' extra (pip install 'cme-gateway[names]')") from exc

    out: set[str] = set()
    for info in pkgutil.iter_modules(person.__path__):
        try:
            module = importlib.import_module(f"{person.__name__}.{info.name}")
        except ImportError:  # pragma: no cover - a locale that needs an optional package
            continue
        provider = getattr(module, "Provider", None)
        for attr in ("first_names", "first_names_male", "first_names_female",
                     "first_names_nonbinary"):
            names = vars(provider).get(attr) if provider is not None else None
            if isinstance(names, dict):
                names = tuple(names)
            if isinstance(names, (tuple, list)):
                out.update(n for n in names if isinstance(n, str))
    return out


def _nickname_list_names() -> set[str]:
    """The names in the ``nicknames`` package's list and the British short forms."""
    import csv
    from importlib.resources import files

    out: set[str] = set(BRITISH_NICKNAMES)
    for forms in BRITISH_NICKNAMES.values():
        out.update(forms)
    with files("nicknames").joinpath("names.csv").open(encoding="utf-8") as fh:
        for row in csv.reader(fh):
            out.update(cell for cell in row if cell and cell.isalpha())
    return out


def training_names() -> list[str]:
    """The normalised, Latin-letter forenames the model is trained on (sorted)."""
    spellings: set[str] = set()
    for name in _faker_forenames() | _nickname_list_names():
        for part in nz.name_parts(name):
            # (Letters only, and a vowel: the lists hold a few abbreviations, "Wm", "Jr".)
            if (len(part) >= 2 and part.isascii() and part.isalpha()
                    and not _VOWELS.isdisjoint(part)):
                spellings.add(part)
    if len(spellings) < _MIN_TRAINING_NAMES:  # a broken install must not pass silently
        raise RuntimeError(f"only {len(spellings)} forenames to learn name shapes from")
    return sorted(spellings)


def _train(names: list[str]) -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str]]:
    seen: Counter[tuple[str, str]] = Counter()  # (context, next letter)
    contexts: Counter[str] = Counter()  # how often each context was followed
    kinds: Counter[str] = Counter()  # how many different letters followed it
    for name in names:
        padded = _START * (_ORDER - 1) + name + _END
        for i in range(_ORDER - 1, len(padded)):
            for k in range(_ORDER):
                key = (padded[i - k:i], padded[i])
                if key not in seen:
                    kinds[key[0]] += 1
                seen[key] += 1
                contexts[key[0]] += 1
    return seen, contexts, kinds


def _get_model() -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str]]:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = _train(training_names())
    return _model


def build_once() -> None:
    """Build the model now if it is not built yet (before forking batch workers)."""
    _get_model()


def build(names: list[str] | None = None) -> None:
    """Build the model now (from ``names`` if given: tests), not on first use."""
    global _model
    with _lock:
        _model = _train(names if names is not None else training_names())
    name_bits.cache_clear()


@lru_cache(maxsize=1 << 14)
def name_bits(spelling: str) -> float:
    """Mean log2 probability per letter of a normalised spelling under the model."""
    seen, contexts, kinds = _get_model()
    padded = _START * (_ORDER - 1) + spelling + _END
    total = 0.0
    for i in range(_ORDER - 1, len(padded)):
        p = 1.0 / _ALPHABET
        for k in range(_ORDER):  # from the empty context up to the two letters before
            ctx = padded[i - k:i]
            n = contexts.get(ctx, 0)
            if n:
                trust = n / (n + kinds[ctx])
                p = trust * seen.get((ctx, padded[i]), 0) / n + (1 - trust) * p
        total += math.log2(p)
    return total / (len(padded) - (_ORDER - 1))


def looks_like_a_name(spelling: str) -> bool:
    """Is a normalised spelling shaped like a forename (see ``NAME_LIKE_BITS``)?"""
    return name_bits(spelling) >= NAME_LIKE_BITS
