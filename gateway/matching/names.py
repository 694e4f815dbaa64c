"""Forename equivalence: nicknames and transliteration variants.

The nickname list comes from the ``nicknames`` package (US-centric, built from genealogy
sources). It lacks several forms that are among the most common given names in England and
Wales (ONS baby-name tables): "Alfie" is a top-10 boy's name but not in the package, nor are
"Evie", "Gracie", "Benji" or "Liam" (as a form of William). ``BRITISH_NICKNAMES`` adds only those.
"""

from __future__ import annotations

from functools import lru_cache

import jellyfish
from nicknames import NickNamer
from rapidfuzz.distance import DamerauLevenshtein

# Curated additions: nickname -> formal names. Every entry is a form common in England and
# Wales that the nicknames package does not link (checked against nicknames 1.x).
BRITISH_NICKNAMES: dict[str, tuple[str, ...]] = {
    "ALFIE": ("ALFRED",),
    "ALF": ("ALFRED",),
    "EVIE": ("EVELYN", "EVE", "EVA"),
    "GRACIE": ("GRACE",),
    "ABI": ("ABIGAIL",),
    "ABBIE": ("ABIGAIL",),
    "BENJI": ("BENJAMIN",),
    "LIAM": ("WILLIAM",),
    "IZZY": ("ISABEL", "ISABELLA", "ISABELLE", "ISOBEL"),
    "ISSY": ("ISOBEL",),
    "MAISIE": ("MARGARET",),
    "ROBBIE": ("ROBERT",),
    "FREDDIE": ("FREDERICK", "ALFRED"),
    "FREDDY": ("FREDERICK", "ALFRED"),
    "ELLIE": ("ELEANOR", "ELLEN", "ELIZABETH"),
    "LEXI": ("ALEXANDRA",),
    "FRANKIE": ("FRANCESCA", "FRANCIS", "FRANK"),
    "JAKE": ("JACOB",),
    "KIT": ("CHRISTOPHER",),
    "MO": ("MOHAMMED", "MUHAMMAD", "MOHAMED", "MOHAMMAD"),
    # The written abbreviations of Muhammad, usual in Bangladeshi and Malaysian names
    # ("Md Abdul Rahman"); "MD." and "MOHD." lose their stops in name_parts.
    "MD": ("MOHAMMED", "MUHAMMAD", "MOHAMED", "MOHAMMAD"),
    "MOHD": ("MOHAMMED", "MUHAMMAD", "MOHAMED", "MOHAMMAD"),
    "MUHD": ("MOHAMMED", "MUHAMMAD", "MOHAMED", "MOHAMMAD"),
    "SOPHIE": ("SOPHIA",),
    "TILLY": ("MATILDA",),
    "HATTIE": ("HARRIET",),
    "CHARLIE": ("CHARLES", "CHARLOTTE"),
    "SASHA": ("ALEXANDER", "ALEXANDRA"),
    "KUBA": ("JAKUB",),  # Polish diminutive of Jakub
    # Short forms found among census-style misses (issue 14) that the package lacks.
    "ELLA": ("ISABELLA", "ELEANOR", "GABRIELLA"),
    "KATIE": ("KATHERINE", "CATHERINE", "KATHRYN"),
    "KATE": ("KATHERINE", "CATHERINE", "KATHRYN"),
    "KAT": ("KATHERINE", "CATHERINE", "KATARZYNA"),
    "SOPH": ("SOPHIE", "SOPHIA"),
    "ZAK": ("ZAKARIYA", "ZACHARY", "ZAKARIA"),
    "ZACK": ("ZACHARY", "ZAKARIYA"),
    "MADDIE": ("MADISON", "MADELEINE", "MADELINE"),
    "MADDY": ("MADISON", "MADELEINE", "MADELINE"),
    "GEORGIE": ("GEORGIA", "GEORGINA", "GEORGE"),
    "FLOSSIE": ("FLORENCE",),
    "LOTTIE": ("CHARLOTTE",),
    "NELL": ("ELEANOR", "HELEN", "ELLEN"),
    "BELLA": ("ISABELLA", "ARABELLA"),
    "IZZIE": ("ISABEL", "ISABELLA", "ISABELLE", "ISOBEL"),
    "LEXIE": ("ALEXANDRA", "ALEXIS"),
    "ROSIE": ("ROSE", "ROSALIND", "ROSEMARY"),
    "OLEK": ("ALEKSANDER",),  # Polish diminutive
}

_NAMER = NickNamer()
_BRITISH_FORMAL = frozenset(f for forms in BRITISH_NICKNAMES.values() for f in forms)


@lru_cache(maxsize=65536)
def nickname_keys(name: str) -> frozenset[str]:
    """The name itself plus every formal name it may stand for (all upper case).

    Two forenames are nickname-equivalent when their key sets intersect: Jim -> {JIM, JAMES}
    meets James -> {JAMES}; Alfie -> {ALFIE, ALFRED} meets Alfred -> {ALFRED}.
    """
    if not name:
        return frozenset()
    lower = name.lower()
    keys = {name}
    keys.update(n.upper() for n in _NAMER.canonicals_of(lower))
    keys.update(BRITISH_NICKNAMES.get(name, ()))
    return frozenset(keys)


@lru_cache(maxsize=65536)
def phonetic(name: str) -> str:
    """Metaphone key; Mohammed, Muhammad, Mohamed and Mohammad all give ``MHMT``."""
    return jellyfish.metaphone(name) if name else ""


# Semi-vowels that romanisations of the same name disagree on (Aisha/Ayesha, Maryam/Mariam).
_SEMI_VOWELS = frozenset("YW")
VOWELS = frozenset("AEIOU")


@lru_cache(maxsize=65536)
def transliteration_key(name: str) -> str:
    """The metaphone key without Y and W after its first letter.

    Metaphone already folds most spelling variants (Mohammed/Muhammad give ``MHMT``) but it
    keeps the semi-vowels and a leading vowel, which is exactly where transliterations of
    Arabic, Urdu and Bengali names differ: Aisha/Ayesha give ``AX``/``AYX``, Omar/Umar
    ``OMR``/``UMR``. This key drops Y and W (``AX``/``AX``); ``compare`` also ignores the
    leading vowel when *both* keys start with one (Omar/Umar), and asks for Jaro-Winkler
    similarity, since the key alone is too loose (Omar and Amir share ``MR``). No
    maintained Python library offers a transliteration-aware key for these names
    (Beider-Morse is only in unmaintained packages), hence this small derivation of
    jellyfish's metaphone.
    """
    key = phonetic(name)
    return key[:1] + "".join(c for c in key[1:] if c not in _SEMI_VOWELS)


@lru_cache(maxsize=65536)
def nickname_forms(name: str) -> tuple[str, ...]:
    """Every form the name may take: itself, its formal names and their nicknames."""
    if not name:
        return ()
    forms = set(nickname_keys(name))
    for k in list(forms):
        forms.update(n.upper() for n in _NAMER.nicknames_of(k.lower()))
        forms.update(nick for nick, formal in BRITISH_NICKNAMES.items() if k in formal)
    forms.discard(name)
    return tuple(sorted(forms))


@lru_cache(maxsize=65536)
def known_name(name: str) -> bool:
    """Do the nickname lists know this spelling as a name (a nickname or a formal name)?"""
    if not name:
        return False
    lower = name.lower()
    return (bool(_NAMER.canonicals_of(lower)) or bool(_NAMER.nicknames_of(lower))
            or name in BRITISH_NICKNAMES or name in _BRITISH_FORMAL)


def sibling_forms(a: str, b: str) -> bool:
    """Are ``a`` and ``b`` two different short forms that meet only in a formal name that
    neither of them is (Alfie and Freddie through Alfred, Daisy and Maisie through
    Margaret)? Such names are given as names of their own, often to brothers and sisters;
    a form and its formal name (Alfie, Alfred) or a name and itself are not."""
    if not a or not b or a == b:
        return False
    ka, kb = nickname_keys(a), nickname_keys(b)
    # (One slip apart, two such forms are more likely one name mistyped: Jock for Jack,
    # Ana for Anna, Alek for Alex. With the same first sound, or spelt alike, they are
    # more likely one child's name shortened or spelt two ways: Jimmy and Jim, Becky and
    # Becca, Ellie and Ella, Izzy and Izzie.)
    return (not ka.isdisjoint(kb) and a not in kb and b not in ka
            and DamerauLevenshtein.distance(a, b) >= 2
            and phonetic(a) != phonetic(b)
            and not (a in _MUHAMMAD_ABBREV and b in _MUHAMMAD_ABBREV)
            and jellyfish.jaro_winkler_similarity(a, b) < 0.8)


_MUHAMMAD_ABBREV = frozenset({"MD", "MOHD", "MUHD", "MO"})


def nickname_equivalent(a: str, b: str) -> bool:
    if not a or not b:
        return False
    return not nickname_keys(a).isdisjoint(nickname_keys(b))
