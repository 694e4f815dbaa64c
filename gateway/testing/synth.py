"""Deterministic synthetic English child records and messy enquiries, with known truth.

``generate(n_records, n_queries, seed)`` builds a population of households (siblings,
twins, half-siblings, double-barrelled surnames, realistic names of several heritages and
UK-shaped postcodes), puts most children on the "held" records and writes enquiries about
both held children and children with no record (mostly siblings or twins of held ones),
each corrupted with the kinds of error found in CTFs, referrals and enquiries.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate

from nicknames import NickNamer
from rapidfuzz.distance import JaroWinkler
from stdnum.gb import upn as stdnum_upn

from gateway.matching.names import BRITISH_NICKNAMES
from gateway.matching.normalise import coerce_date, name_key
from gateway.matching.records import Record
from gateway.testing.synth_names import (
    GROUPS,
    INWARD_LETTERS,
    LA_CODES,
    MORE_NAMES,
    POSTCODE_AREAS,
    STREET_TYPES,
    STREETS,
    SURNAME_TAIL,
    VARIANTS,
)

# Probability of each corruption in an enquiry (independent draws).
RATES: dict[str, float] = {
    "fn_nickname": 0.08, "fn_typo": 0.06, "fn_variant": 0.5, "fn_middle": 0.015,
    "fn_initial": 0.01, "fn_missing": 0.01, "sn_typo": 0.06, "sn_one_part": 0.5,
    "sn_changed": 0.04, "sn_variant": 0.4, "sn_missing": 0.01, "swap": 0.03,
    "dob_transposed": 0.05, "dob_partial": 0.04, "dob_typo": 0.03, "dob_missing": 0.01,
    "sex_missing": 0.05, "sex_wrong": 0.003, "pc_format": 0.5, "moved": 0.08,
    "pc_typo": 0.02, "pc_missing": 0.05, "addr_missing": 0.15, "mid_dropped": 0.5,
    "upn_given": 0.2, "upn_typo": 0.1, "former_upn": 0.3,
}
_OCR = (("rn", "m"), ("m", "rn"), ("l", "i"), ("i", "l"), ("o", "0"), ("cl", "d"),
        ("e", "c"), ("h", "b"), ("u", "v"), ("a", "o"))
_KEYBOARD = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm", "wertyuiopqsdfghjkla"
                                   "xcvbnmz", strict=False)}
_VARIANT_OF = {name_key(v): grp for grp in VARIANTS for v in grp}
_NAMER = NickNamer()

# The British nickname list as the matcher had it when the first populations were made
# (before issue 14 added short forms such as Ella, Katie, Soph). The ``england`` and
# ``concentrated`` populations keep drawing nicknames, and keeping siblings' names apart,
# with this list so that they stay the same test sets byte for byte; ``realistic`` uses
# the matcher's current list.
_FIRST_NICKNAMES: dict[str, tuple[str, ...]] = {
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
    "LEXIE": ("ALEXANDRA",),
    "FRANKIE": ("FRANCESCA", "FRANCIS", "FRANK"),
    "JAKE": ("JACOB",),
    "KIT": ("CHRISTOPHER",),
    "MO": ("MOHAMMED", "MUHAMMAD", "MOHAMED", "MOHAMMAD"),
    "SOPHIE": ("SOPHIA",),
    "TILLY": ("MATILDA",),
    "HATTIE": ("HARRIET",),
    "CHARLIE": ("CHARLES", "CHARLOTTE"),
    "SASHA": ("ALEXANDER", "ALEXANDRA"),
    "KUBA": ("JAKUB",),  # Polish diminutive of Jakub
    "OLEK": ("ALEKSANDER",),  # Polish diminutive
}


def _keys(name: str, extra: dict[str, tuple[str, ...]]) -> frozenset[str]:
    keys = {name} | {n.upper() for n in _NAMER.canonicals_of(name.lower())}
    keys.update(extra.get(name, ()))
    return frozenset(keys)


def _equivalent(a: str, b: str, extra: dict[str, tuple[str, ...]]) -> bool:
    return bool(a) and bool(b) and not _keys(a, extra).isdisjoint(_keys(b, extra))


@dataclass
class Child:
    key: int
    family: int
    forename: str
    middle: str
    surname: str
    dob: dt.date
    sex: str
    postcode: str
    address: str
    upn: str
    former_upn: str = ""
    twin_of: int | None = None


@dataclass
class SynthData:
    records: list[Record]
    queries: list[Record]  # record_id holds the query id
    truth: dict[str, str | None]  # query id -> true record id (None: no record held)
    tags: dict[str, list[str]] = field(default_factory=dict)  # query id -> corruptions
    household_of: dict[str, bool] = field(default_factory=dict)  # no-record: sibling held?


@dataclass(frozen=True)
class Population:
    """How names are drawn: Zipf exponents over the forename and surname lists, the share
    of each group's families whose surname is built from SURNAME_TAIL's elements (``None``:
    SURNAME_TAIL's own shares), and whether MORE_NAMES extends the lists."""

    forename_exponent: float
    surname_exponent: float
    surname_tail: dict[str, float] | None
    more_names: bool
    # Families as the review of issue 14 found the matcher must survive and the first
    # generator never made: brothers who all share the first name Muhammad and go by
    # their middle names, brothers and sisters with alike or nickname-linked names
    # (Emily and Amelia, Reese and Reece), and a same-named cousin at the same home.
    families: bool = False
    # The share of children given a rare forename: one no list holds and no other child
    # has, made letter by letter from the letter triples of the group's own names (so it is
    # shaped like that culture's names: "Amarin", "Tomasza"). Real registers have such a
    # long tail (names given to one or two children a year), and the closed lists above
    # never produce it: at 20,000 records every forename is held twice or more, so an
    # absent twin's rare name, the case the matcher's name rules must not claim, never
    # arises. Used by the "longtail" test set.
    rare_names: float = 0.0


# Alike or nickname-linked names that brothers and sisters are given: (name, sex, partner,
# partner's sex). Used only by the "families" population.
ALIKE_SIBLING_NAMES: tuple[tuple[str, str, str, str], ...] = (
    ("Harry", "M", "Henry", "M"), ("Alfie", "M", "Freddie", "M"), ("Jayden", "M", "Jaden", "M"),
    ("Louis", "M", "Lewis", "M"), ("Ethan", "M", "Evan", "M"), ("Emily", "F", "Amelia", "F"),
    ("Ella", "F", "Ellie", "F"), ("Hannah", "F", "Anna", "F"), ("Millie", "F", "Mollie", "F"),
    ("Lily", "F", "Lila", "F"), ("Isla", "F", "Isabella", "F"), ("Grace", "F", "Gracie", "F"),
    ("Sophie", "F", "Sophia", "F"), ("Reese", "F", "Reece", "M"), ("Kian", "M", "Kiana", "F"),
    ("Louis", "M", "Louise", "F"), ("Charlie", "M", "Charlotte", "F"),
    ("Alex", "M", "Alexa", "F"), ("Aisha", "F", "Ayesha", "F"), ("Zain", "M", "Zayn", "M"),
)


# "england" (the default) comes near national frequencies: the commonest boys' name about
# 2% of boys, Smith about 1% of children (ONS baby names for 2008-2020 births; surnames
# in England). "concentrated" is the generator of the first releases, where a few names
# dominate (Oliver 9% of boys, Smith 3% of children), kept as a harder test of namesakes.
POPULATIONS: dict[str, Population] = {
    "england": Population(0.4, 0.6, {"british": 0.6, "south_asian": 0.35,
                                     "eastern_european": 0.6, "african": 0.5,
                                     "other": 0.4}, True),
    "concentrated": Population(0.8, 0.8, None, False),
    "families": Population(0.4, 0.6, {"british": 0.6, "south_asian": 0.35,
                                      "eastern_european": 0.6, "african": 0.5,
                                      "other": 0.4}, True, families=True),
    "longtail": Population(0.4, 0.6, {"british": 0.6, "south_asian": 0.35,
                                      "eastern_european": 0.6, "african": 0.5,
                                      "other": 0.4}, True, rare_names=0.08),
}


def _names(group: str, which: int, more: bool) -> tuple[str, ...]:
    """Boys' (1), girls' (2) forenames or surnames (3) of a group."""
    _, boys, girls, surnames = GROUPS[group]
    names = (boys, girls, surnames)[which - 1]
    if more:
        names = tuple(dict.fromkeys(names + MORE_NAMES[group][which - 1]))
    return names


def _zipf(n: int, exponent: float) -> list[float]:
    return list(accumulate(1.0 / (i + 1) ** exponent for i in range(n)))


class _Gen:
    def __init__(self, seed: int, as_of: dt.date, population: str = "england") -> None:
        if population not in POPULATIONS:
            raise ValueError(f"population must be one of {sorted(POPULATIONS)}")
        pop = POPULATIONS[population]
        self.families = pop.families
        self.tail = {g: (pop.surname_tail or {}).get(g, SURNAME_TAIL[g][0]) for g in GROUPS}
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.groups = list(GROUPS)
        self.group_w = list(accumulate(GROUPS[g][0] for g in self.groups))
        self.lists = {g: tuple(_names(g, i, pop.more_names) for i in (1, 2, 3))
                      for g in GROUPS}
        self.cum = {g: tuple(_zipf(len(self.lists[g][i - 1]), pop.surname_exponent if i == 3
                                   else pop.forename_exponent) for i in (1, 2, 3))
                    for g in GROUPS}
        self.upn_serial = 0
        self.rare_share = pop.rare_names
        self._rare_models: dict[tuple[str, int], dict[str, list[str]]] = {}
        self._rare_taken: set[str] = set()
        self.nicknames = _FIRST_NICKNAMES
        self.postcodes: list[tuple[str, str, int]] = []  # postcode, street, next house no

    def pick(self, group: str, which: int) -> str:
        names = self.lists[group][which - 1]
        return self.rng.choices(names, cum_weights=self.cum[group][which - 1])[0]

    def surname(self, group: str) -> str:
        _, prefixes, suffixes = SURNAME_TAIL[group]
        if self.rng.random() < self.tail[group]:
            return self.rng.choice(prefixes) + self.rng.choice(suffixes)
        return self.pick(group, 3)

    def group(self) -> str:
        return self.rng.choices(self.groups, cum_weights=self.group_w)[0]

    def new_upn(self) -> str:
        self.upn_serial += 1
        body = f"{self.rng.choice(LA_CODES):03d}{self.rng.randint(1000, 7999):04d}"
        body += f"{self.rng.randint(10, 24):02d}{self.upn_serial % 1000:03d}"
        return stdnum_upn.calc_check_digit(body) + body

    def new_postcode(self) -> str:
        r = self.rng
        return (f"{r.choice(POSTCODE_AREAS)}{r.randint(1, 28)} {r.randint(1, 9)}"
                f"{r.choice(INWARD_LETTERS)}{r.choice(INWARD_LETTERS)}")

    def new_home(self) -> tuple[str, str]:
        # About eight households per postcode, numbered along one street.
        if not self.postcodes or self.rng.random() < 0.12:
            street = f"{self.rng.choice(STREETS)} {self.rng.choice(STREET_TYPES)}"
            self.postcodes.append((self.new_postcode(), street, 1))
        i = self.rng.randrange(max(0, len(self.postcodes) - 3), len(self.postcodes))
        pc, street, num = self.postcodes[i]
        self.postcodes[i] = (pc, street, num + self.rng.randint(1, 3))
        return pc, f"{num} {street}"

    def rare_name(self, group: str, which: int) -> str:
        """A forename no list holds and no child has yet, shaped like the group's names
        (see ``Population.rare_names``)."""
        key = (group, which)
        model = self._rare_models.get(key)
        if model is None:
            model = {}
            for name in self.lists[group][which - 1]:
                if not name.isalpha():  # (Lily-Rose: one-part names only)
                    continue
                padded = "^^" + name.lower() + "$"
                for i in range(2, len(padded)):
                    model.setdefault(padded[i - 2:i], []).append(padded[i])
            self._rare_models[key] = model
            self._rare_taken.update(n.lower() for lists in self.lists.values()
                                    for names in lists[:2] for n in names)
        for _ in range(200):
            out: list[str] = []
            ctx = "^^"
            while len(out) < 10:
                ch = self.rng.choice(model[ctx])
                if ch == "$":
                    break
                out.append(ch)
                ctx = ctx[1] + ch
            name = "".join(out)
            if 3 <= len(name) <= 9 and name not in self._rare_taken:
                self._rare_taken.add(name)
                return name.capitalize()
        return self.pick(group, which)

    def forename(self, group: str, sex: str, avoid: Sequence[str]) -> str:
        which = 1 if sex == "M" else 2
        if self.rare_share and self.rng.random() < self.rare_share:
            return self.rare_name(group, which)
        for _ in range(50):
            name = self.pick(group, which)
            # Siblings' names differ, and are not nicknames or near-spellings of each other.
            if all(not _equivalent(name_key(name), name_key(a), self.nicknames)
                   and JaroWinkler.similarity(name_key(name), name_key(a)) < 0.8
                   for a in avoid):
                return name
        return name

    def family(self, fid: int, start_key: int) -> list[Child]:
        r = self.rng
        group = self.group()
        surname = self.surname(group)
        if r.random() < 0.05:
            surname = f"{surname}-{self.surname(self.group())}"
        pc, addr = self.new_home()
        n = r.choices((1, 2, 3, 4, 5), weights=(38, 36, 17, 7, 2))[0]
        # Eldest is 4-16 on the as-of date; siblings come 11 months to 5 years later.
        dob = self.as_of - dt.timedelta(days=r.randint(4 * 365 + 120, 16 * 365 + 300))
        kids: list[Child] = []
        names: list[str] = []
        # ("families" only) every son Muhammad, known by his middle name
        all_muhammad = self.families and group == "south_asian" and r.random() < 0.35
        while len(kids) < n:
            twins = r.random() < 0.03 and len(kids) + 2 <= n + 1
            for t in range(2 if twins else 1):
                sex = r.choice("MF")
                fn = self.forename(group, sex, names)
                if self.families:
                    fn, sex = self.family_name(fn, sex, kids, all_muhammad)
                names.append(fn)
                sn = surname
                if kids and t == 0 and r.random() < 0.08:  # half-sibling, other surname
                    sn = self.surname(group)
                mid = self.forename(group, sex, names) if (
                    r.random() < 0.55 or fn == "Muhammad" and all_muhammad) else ""
                if mid:  # no child's middle name is a sibling's forename, nor the reverse
                    names.append(mid)
                kid = Child(start_key + len(kids), fid, fn, mid, sn, dob, sex, pc, addr,
                            self.new_upn() if r.random() < 0.93 else "")
                if t == 1:
                    kid.twin_of = kids[-1].key
                if kid.upn and r.random() < 0.02:
                    kid.former_upn = self.new_upn()
                kids.append(kid)
            dob = dob + dt.timedelta(days=r.randint(330, 5 * 365))
            if dob > self.as_of - dt.timedelta(days=4 * 365):
                break
        if self.families and r.random() < 0.06:  # a cousin named as one of them, at home
            c = r.choice(kids)
            born = c.dob + dt.timedelta(days=r.choice((-1, 1)) * r.randint(365, 4 * 365))
            if self.as_of - dt.timedelta(days=17 * 365) < born < self.as_of - dt.timedelta(
                    days=4 * 365):
                kids.append(Child(start_key + len(kids), fid, c.forename,
                                  self.forename(group, c.sex, names) if r.random() < 0.5
                                  else "", c.surname, born, c.sex, pc, addr,
                                  self.new_upn() if r.random() < 0.93 else ""))
        return kids

    def family_name(self, fn: str, sex: str, kids: list[Child],
                    all_muhammad: bool) -> tuple[str, str]:
        """("families" only) Muhammad for every son of such a family; else, a fifth of the
        time, the alike partner of an elder sibling's name (with the partner's sex)."""
        if all_muhammad and sex == "M":
            return "Muhammad", sex
        if kids and self.rng.random() < 0.2:
            for k in kids:
                for a, a_sex, b, b_sex in ALIKE_SIBLING_NAMES:
                    if k.forename == a:
                        return b, b_sex
                    if k.forename == b:
                        return a, a_sex
        return fn, sex


# Error models: "first" is the corruption of the first releases (``RATES``, ``_corrupt``);
# "realistic" (issue 14) resembles real linkage data (``REALISTIC``, ``_corrupt_real``).
ERROR_MODELS = ("first", "realistic")
# Test sets: a name population with an error model and a share of enquiries about children
# with no record. ``realistic`` is the england population with the realistic error model
# and 3% of enquiries about a child who has no record while a brother, sister or twin does.
TEST_SETS: dict[str, tuple[str, str, float]] = {
    "realistic": ("england", "realistic", 0.032),
    "england": ("england", "first", 0.25),
    "concentrated": ("concentrated", "first", 0.25),
    # The realistic errors among harder families (``Population.families``), a quarter of
    # enquiries about a child with no record whose brother, sister, twin or cousin has one:
    # the safety test.
    "families": ("families", "realistic", 0.25),
    # The realistic errors where 8% of children have a rare forename no list holds
    # (``Population.rare_names``), a quarter of enquiries about a child with no record whose
    # brother, sister or twin has one: the safety test for the rules about unseen names.
    "longtail": ("longtail", "realistic", 0.25),
}


def generate_set(name: str, n_records: int, n_queries: int, seed: int) -> SynthData:
    """One of ``TEST_SETS`` by name."""
    population, errors, share = TEST_SETS[name]
    return generate(n_records, n_queries, seed, no_record_share=share,
                    population=population, errors=errors)


def generate(
    n_records: int, n_queries: int, seed: int, no_record_share: float = 0.25,
    as_of: dt.date = dt.date(2025, 1, 15), population: str = "england",
    errors: str = "first",
) -> SynthData:
    """Records, queries and truth; the same arguments always give the same output.

    ``population`` is a key of ``POPULATIONS``: how concentrated the names are.
    ``errors`` is one of ``ERROR_MODELS``: how the enquiries are corrupted. With
    "realistic", every child with no record has a brother, sister or twin who has one.
    """
    if errors not in ERROR_MODELS:
        raise ValueError(f"errors must be one of {ERROR_MODELS}")
    g = _Gen(seed, as_of, population)
    if errors == "realistic":
        g.nicknames = BRITISH_NICKNAMES
    n_absent = int(n_queries * no_record_share)
    children: list[Child] = []
    fid = 0
    while len(children) < n_records + n_absent * 2:
        children.extend(g.family(fid, len(children)))
        fid += 1
    by_family: dict[int, list[Child]] = {}
    for c in children:
        by_family.setdefault(c.family, []).append(c)
    rng = g.rng
    # Children without a record: 70% have a sibling (a third of those a twin) who is held.
    absent: set[int] = set()
    twins = [c for c in children if c.twin_of is not None]
    multi = [c for c in children if len(by_family[c.family]) > 1 and c.twin_of is None]
    singles = [c for c in children if len(by_family[c.family]) == 1]
    shares = ((twins, 0.3), (multi, 0.7)) if errors == "realistic" else (
        (twins, 0.23), (multi, 0.47), (singles, 0.30))
    for pool, share in shares:
        for c in rng.sample(pool, min(len(pool), round(n_absent * share))):
            absent.add(c.key)
    held = [c for c in children if c.key not in absent][:n_records]
    records = [_to_record(c, f"R{c.key:07d}", rng) for c in held]
    present_q = rng.sample(held, min(len(held), n_queries - len(absent)))
    absent_q = [c for c in children if c.key in absent]
    if errors == "realistic":  # only children whose brother, sister or twin is held
        held_set = {c.key for c in held}
        absent_q = [c for c in absent_q if any(
            s.key in held_set for s in by_family[c.family] if s.key != c.key)]
    chosen = [(c, True) for c in present_q] + [(c, False) for c in absent_q]
    rng.shuffle(chosen)
    data = SynthData(records, [], {})
    held_keys = {c.key for c in held}
    for i, (c, is_held) in enumerate(chosen):
        qid = f"Q{i:07d}"
        query, tags = _corrupt_real(c, qid, g) if errors == "realistic" else _corrupt(c, qid, g)
        data.queries.append(query)
        data.truth[qid] = f"R{c.key:07d}" if is_held else None
        data.tags[qid] = tags
        if not is_held:
            data.household_of[qid] = any(
                s.key in held_keys for s in by_family[c.family] if s.key != c.key)
    return data


def _to_record(c: Child, rid: str, rng: random.Random) -> Record:
    return Record(
        record_id=rid, upn=c.upn, former_upn=c.former_upn, surname=c.surname,
        forename=c.forename, middle_names=c.middle, dob=coerce_date(c.dob), sex=c.sex,
        postcode=c.postcode, address=c.address, laestab=f"{rng.randint(201, 938)}"
        f"{rng.randint(1000, 7999)}", on_roll_from=coerce_date(dt.date(c.dob.year + 4, 9, 1)),
    )


def typo(word: str, rng: random.Random) -> str:
    """One keyboard or OCR slip: substitution, transposition, deletion or OCR confusion."""
    w = word.lower()
    if len(w) < 3:
        return word
    op = rng.random()
    i = rng.randrange(1, len(w) - 1)
    if op < 0.3:
        pairs = [(a, b) for a, b in _OCR if a in w[1:]]
        if pairs:
            a, b = rng.choice(pairs)
            w = w[0] + w[1:].replace(a, b, 1)
        else:
            w = w[:i] + _KEYBOARD.get(w[i], w[i]) + w[i + 1:]
    elif op < 0.55:
        w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif op < 0.75:
        w = w[:i] + w[i + 1:]
    elif op < 0.9:
        w = w[:i] + w[i] + w[i:]
    else:
        w = w[:i] + _KEYBOARD.get(w[i], w[i]) + w[i + 1:]
    return w.capitalize()


def _nickname(name: str, rng: random.Random,
              extra: dict[str, tuple[str, ...]] = _FIRST_NICKNAMES) -> str | None:
    up = name_key(name)
    options = {n.capitalize() for n in _NAMER.nicknames_of(name.lower())}
    options |= {k.capitalize() for k, v in extra.items() if up in v}
    return rng.choice(sorted(options)) if options else None


def _variant(name: str, rng: random.Random) -> str | None:
    grp = _VARIANT_OF.get(name_key(name))
    if not grp:
        return None
    return rng.choice([v for v in grp if v != name]) if len(grp) > 1 else None


def _corrupt(c: Child, qid: str, g: _Gen) -> tuple[Record, list[str]]:
    r, R = g.rng, RATES
    tags: list[str] = []

    def hit(tag: str) -> bool:
        if r.random() < R[tag]:
            tags.append(tag)
            return True
        return False

    fn, sn, mid = c.forename, c.surname, c.middle
    variant = _variant(fn, r)
    if variant and hit("fn_variant"):
        fn = variant
    nick = _nickname(fn, r, g.nicknames)
    if nick and hit("fn_nickname"):
        fn = nick
    if hit("fn_typo"):
        fn = typo(fn, r)
    if mid and hit("fn_middle"):
        fn, mid = mid, ""
    if hit("fn_initial"):
        fn = fn[0]
    if hit("fn_missing"):
        fn = ""
    sn_variant = _variant(sn, r)
    if sn_variant and hit("sn_variant"):
        sn = sn_variant
    if "-" in sn and hit("sn_one_part"):
        sn = r.choice(sn.split("-"))
    if hit("sn_changed"):
        sn = g.surname(g.group())
    if hit("sn_typo"):
        sn = typo(sn, r)
    if hit("sn_missing"):
        sn = ""
    if hit("swap"):
        fn, sn = sn, fn
    dob: str = c.dob.isoformat()
    if c.dob.day <= 12 and c.dob.day != c.dob.month and hit("dob_transposed"):
        dob = f"{c.dob.year:04d}-{c.dob.day:02d}-{c.dob.month:02d}"
    elif hit("dob_partial"):
        dob = dob[:7] if r.random() < 0.6 else dob[:4]
    elif hit("dob_typo"):
        y, m, d = c.dob.year, c.dob.month, c.dob.day
        if r.random() < 0.5:
            d = min(28, max(1, d + r.choice((-10, -1, 1, 10))))
        else:
            y += r.choice((-1, 1))
            d = min(d, 28) if m == 2 else d  # 29 February does not survive a year change
        dob = f"{y:04d}-{m:02d}-{d:02d}"
    if hit("dob_missing"):
        dob = ""
    if r.random() < 0.5:  # UK style on half the enquiries
        parts = dob.split("-")
        dob = "/".join(reversed(parts)) if dob else ""
    sex = c.sex
    if hit("sex_wrong"):
        sex = "F" if sex == "M" else "M"
    if hit("sex_missing"):
        sex = ""
    pc, addr = c.postcode, c.address
    if hit("moved"):
        pc, addr = g.new_home()
    if hit("pc_typo"):
        pc = pc[:-1] + r.choice(INWARD_LETTERS)
    if hit("pc_format"):
        pc = pc.replace(" ", "").lower()
    if hit("pc_missing"):
        pc = ""
    if hit("addr_missing"):
        addr = ""
    if mid and hit("mid_dropped"):
        mid = ""
    upn = ""
    if c.upn and hit("upn_given"):
        upn = c.former_upn if c.former_upn and hit("former_upn") else c.upn
        if hit("upn_typo"):
            i = r.randrange(1, 12)
            upn = upn[:i] + str((int(upn[i]) + 1) % 10) + upn[i + 1:]
    q = replace(
        _to_record(c, qid, r), upn=upn, former_upn="", surname=sn, forename=fn,
        middle_names=mid, dob=coerce_date(dob or None), sex=sex, postcode=pc, address=addr,
        laestab="", on_roll_from=None,
    )
    return q, tags


# -- the realistic error model (issue 14) ---------------------------------------------
#
# Rates chosen so that, on true pairs, the fields agree about as often as in real linkage
# data (the census-style set): forename exactly about two times in three, surname
# about 70%, sex 97%, day of birth 97%, month 92%, year 94%, address 90%, postcode 93%.
# Damage comes in kinds that go together: a scanned form damages both names (OCR), a
# hurried hand slips on a key, a nickname or an initial stands for the name.
REALISTIC: dict[str, float] = {
    "ocr": 0.15,  # the form was scanned: OCR damage to the forename, often the surname
    "fn_typo": 0.10, "fn_nickname": 0.08, "fn_initial": 0.05, "fn_missing": 0.015,
    "fn_variant": 0.3, "fn_middle": 0.01, "fn_other": 0.01,  # "other": garbled past use
    "sn_typo": 0.11, "sn_changed": 0.04, "sn_missing": 0.01, "sn_truncated": 0.03,
    "sn_variant": 0.2, "sn_one_part": 0.5, "swap": 0.01,
    "dob_transposed": 0.03, "dob_month": 0.055, "dob_year": 0.05, "dob_day": 0.01,
    "dob_no_day": 0.01, "dob_missing": 0.01,
    "sex_wrong": 0.01, "sex_missing": 0.02,
    "moved": 0.06, "addr_missing": 0.03, "addr_typo": 0.03, "pc_typo": 0.01,
    "pc_missing": 0.01, "upn_given": 0.1,
}
# Letters read as others by OCR of printed and handwritten forms, as the issue lists them
# (N/W, L/C/I, R/B, V/R, A/R, E/F, M/H, D/O) and a few more (U/V, O/Q, G/C, T/I, K/X,
# F/P, Y/V) that the matcher's own table does not list, so that it is not tested on its
# own model alone.
_OCR_SUBS: dict[str, str] = {}
for _a, _b in ("NW", "LC", "LI", "CI", "RB", "VR", "AR", "EF", "MH", "DO", "UV", "OQ", "GC",
               "TI", "KX", "FP", "YV"):
    _OCR_SUBS[_a] = _OCR_SUBS.get(_a, "") + _b
    _OCR_SUBS[_b] = _OCR_SUBS.get(_b, "") + _a


def ocr_damage(word: str, rng: random.Random, rate: float = 0.25) -> str:
    """OCR damage: each letter misread with probability ``rate`` (at least one), or a
    double letter read once or a letter read twice ("HRWWRH" for HANNAH)."""
    w = word.upper()
    if len(w) < 3:
        return word
    for _ in range(10):
        out = []
        for i, ch in enumerate(w):
            x = rng.random()
            if x < rate and ch in _OCR_SUBS:
                out.append(rng.choice(_OCR_SUBS[ch]))
            elif x < rate + 0.03 and i and w[i - 1] == ch:
                continue  # a double letter read once
            elif x < rate + 0.05:
                out.append(ch + ch)
            else:
                out.append(ch)
        new = "".join(out)
        if new != w:
            return new.capitalize()
    return typo(word, rng)


def _garble(word: str, rng: random.Random) -> str:
    """A name garbled past recognition: several arbitrary letters replaced."""
    w = list(word.lower())
    for i in rng.sample(range(len(w)), max(1, len(w) // 2)):
        w[i] = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return "".join(w).capitalize()


def _corrupt_real(c: Child, qid: str, g: _Gen) -> tuple[Record, list[str]]:
    r, R = g.rng, REALISTIC
    tags: list[str] = []

    def hit(tag: str) -> bool:
        if r.random() < R[tag]:
            tags.append(tag)
            return True
        return False

    fn, sn, mid = c.forename, c.surname, c.middle
    scanned = hit("ocr")
    variant = _variant(fn, r)
    if variant and hit("fn_variant"):
        fn = variant
    nick = _nickname(fn, r, g.nicknames)
    if nick and hit("fn_nickname"):
        fn = nick
    if mid and hit("fn_middle"):
        fn, mid = mid, ""
    if scanned and r.random() < 0.85:
        fn = ocr_damage(fn, r)
    elif hit("fn_typo"):
        fn = typo(fn, r)
    if hit("fn_other"):
        fn = _garble(fn, r)
    if hit("fn_initial"):
        fn = fn[0]
    if hit("fn_missing"):
        fn = ""
    sn_variant = _variant(sn, r)
    if sn_variant and hit("sn_variant"):
        sn = sn_variant
    if "-" in sn and hit("sn_one_part"):
        sn = r.choice(sn.split("-"))
    if hit("sn_changed"):
        sn = g.surname(g.group())
    if scanned and r.random() < 0.7:
        sn = ocr_damage(sn, r)
    elif hit("sn_typo"):
        sn = typo(sn, r)
    if len(sn) > 7 and hit("sn_truncated"):
        sn = sn[:r.randint(5, len(sn) - 2)]
    if hit("sn_missing"):
        sn = ""
    if hit("swap"):
        fn, sn = sn, fn
    y, m, d = c.dob.year, c.dob.month, c.dob.day
    dob = ""
    if hit("dob_transposed") and d <= 12 and d != m:
        m, d = d, m
    if hit("dob_month"):
        m = min(12, max(1, m + r.choice((-1, 1, -1, 1, 2, -3))))
    if hit("dob_year"):
        y += r.choice((-1, 1))
    if hit("dob_day"):
        d = d + r.choice((-1, 1, 10, -10))
    d = min(max(d, 1), calendar.monthrange(y, m)[1])
    dob = f"{y:04d}-{m:02d}-{d:02d}"
    if hit("dob_no_day"):
        dob = dob[:7]
    if hit("dob_missing"):
        dob = ""
    if r.random() < 0.5 and dob:  # UK style on half the enquiries
        dob = "/".join(reversed(dob.split("-")))
    sex = c.sex
    if hit("sex_wrong"):
        sex = "F" if sex == "M" else "M"
    if hit("sex_missing"):
        sex = ""
    pc, addr = c.postcode, c.address
    if hit("moved"):
        pc, addr = g.new_home()
    if hit("addr_typo"):
        addr = ocr_damage(addr, r, 0.05) if scanned else typo(addr, r)
    if hit("pc_typo"):
        pc = pc[:-1] + r.choice(INWARD_LETTERS)
    if hit("pc_missing"):
        pc = ""
    if hit("addr_missing"):
        addr = ""
    if r.random() < 0.5:
        pc = pc.replace(" ", "").lower()
    upn = c.upn if c.upn and hit("upn_given") else ""
    q = replace(
        _to_record(c, qid, r), upn=upn, former_upn="", surname=sn, forename=fn,
        middle_names=mid if r.random() < 0.5 else "", dob=coerce_date(dob or None),
        sex=sex, postcode=pc, address=addr, laestab="", on_roll_from=None,
    )
    return q, tags
