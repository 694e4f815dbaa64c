"""Matching configuration: thresholds, limits and Fellegi-Sunter m/u probabilities.

The defaults were chosen once on the synthetic development split (seed 1, see
``bench/matching_bench.py --fit``) and are *not* re-tuned per data set: an authority that
wants different behaviour changes its ``[matching]`` table in the gateway TOML file.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.matching.errors import MatchInputError

# P(level | same child) and P(level | different children) for every comparison level.
# Estimated on the synthetic development split (100,000 records, 8,000 enquiries, seed 1)
# with ``python -m bench.matching_bench --fit``: m from the true pairs, u from 200,000
# random record pairs. Where the split cannot show a level, the value is set by reasoning
# and marked "set": random record pairs have no partial dates or missing addresses, so
# their u is the chance agreement of what is given; levels never seen in true pairs get a
# small m for real-world errors the generator does not make. "missing" is always neutral.
DEFAULT_WEIGHTS: Mapping[str, Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "forename": MappingProxyType(
            {
                "exact": (0.80, 0.0114),
                "nickname": (0.034, 0.0023),
                "close": (0.084, 0.00055),
                "phonetic": (0.0148, 0.0011),
                # m, u set: the same child's name damaged by OCR or keying past a single
                # slip (census-style data: most misses); between different children a
                # spelling no record has is seldom explained by damage to a held name.
                "garbled": (0.03, 0.0008),
                "middle": (0.009, 0.0115),
                "similar": (0.0106, 0.0083),
                # Like a partial date, an initial is a property of the enquiry: m and u are
                # conditional on one side giving only an initial. m: it nearly always fits;
                # u: the chance that two records' forenames share an initial (0.069 on
                # the dev split). As shares of all pairs an agreeing initial counted
                # against the child (m 0.0095 against u 0.06).
                "initial": (0.99, 0.069),
                "disagree": (0.030, 0.965),
            }
        ),
        "surname": MappingProxyType(
            {
                "exact": (0.83, 0.0038),
                "part": (0.024, 0.00086),
                "close": (0.059, 0.00028),
                "phonetic": (0.006, 0.0003),
                "similar": (0.0036, 0.0041),
                "disagree": (0.066, 0.991),
            }
        ),
        "middle_names": MappingProxyType(
            {"agree": (0.27, 0.0033), "disagree": (0.003, 0.30)}  # m set (n_m=2)
        ),
        "dob": MappingProxyType(
            {
                "exact": (0.906, 0.000208),
                # A partial date is a property of the enquiry, not evidence either way: m
                # and u are both conditional on the enquiry giving only a year and month
                # (only a year). m: nearly every true pair then agrees (n_m=367, 217); u:
                # the chance that two records share birth year and month (year) on the
                # dev split. Counting them as shares of all pairs, as --fit does, put the
                # rarity of partial dates into m and made an agreeing year count against.
                "partial": (0.99, 0.0068),
                "partial_year": (0.99, 0.080),
                "transposed": (0.0167, 0.0000725),
                "slip": (0.028, 0.0060),
                "one_part": (0.0023, 0.0058),
                "year": (0.0005, 0.070),  # m set
                "disagree": (0.0005, 0.92),  # m set
            }
        ),
        "sex": MappingProxyType({"agree": (0.95, 0.5), "disagree": (0.0036, 0.5)}),
        "location": MappingProxyType(
            {
                "address": (0.786, 0.0000125),
                "postcode": (0.126, 0.0001),  # u set: same postcode
                "neighbour": (0.005, 0.0002),  # m set: house number slips
                "sector": (0.0028, 0.0000725),
                "district": (0.005, 0.00086),  # m set: moves within a district
                "disagree": (0.077, 0.999),
            }
        ),
        "upn": MappingProxyType({"disagree": (0.005, 0.999)}),  # m set
    }
)


@dataclass(frozen=True)
class MatchConfig:
    """Everything that changes how records are matched or how inputs are policed."""

    # Band thresholds on the score: log2 posterior odds that the record is the child, i.e.
    # the sum of the field weights plus the prior log2(1/N) for N records held. The prior
    # is what makes a shared forename and date of birth convincing among 500 records and
    # not among 100,000. N is taken as at least ``prior_records_floor``.
    prior_records_floor: int = 1000
    match_threshold: float = 0.0
    possible_threshold: float = -10.0
    # Two candidates in the match band closer than this are both demoted to "possible":
    # the matcher refuses to guess between (for example) twins.
    ambiguity_margin: float = 4.0
    # Surname, postcode and address are shared by a whole household, so their agreement
    # is not independent evidence. Their summed weight is capped so that disagreement on
    # forename and date of birth (the person fields) always outweighs them.
    household_cap: float = 14.0
    # Term-frequency adjustment of exact forename/surname agreement: a shared "Oliver Smith"
    # is weaker evidence than a shared rare name. The observed frequency is blended with
    # the configured u as if ``tf_prior_records`` extra records had the average frequency,
    # so a small record set falls back to the configured weights.
    tf_adjust: bool = True
    tf_prior_records: float = 1000.0
    # A query forename that no held record has (e.g. "Mla") and that is a slip away from a
    # record's forename (Mia) is read as a typo of it ("close") rather than as a different,
    # loosely similar name. Only when at least this many records are held: among fewer,
    # an unseen spelling may well be a real name (another child's).
    unseen_forename_records: int = 1000
    # A forename spelling that is no real name and that no damage explains ("Jdqcde"), with
    # everything else the record's and no other held record that could be the child, is
    # matched when at most this share of records have a forename no other record has (the
    # Good-Turing chance that a real name is unseen; see matcher.UNSEEN_NAME_SHARE for the
    # reasoning behind 1/64). 0 (the default) never: such a spelling is not one an officer
    # would accept at a glance, and on the development splits it found 0.6% more children
    # for about 0.6% more claims of absent twins.
    unrecognised_name_share: float = 0.0
    # Heavy OCR or keying damage of a forename (one arbitrary letter and a confusion in
    # about every other letter, "Drwtfl" for Daniel) read as the child when the spelling is
    # not shaped like a name (gateway/matching/namelike.py), nothing held could be the
    # child, and date of birth, surname, sex and home are the record's. Off by default: the
    # name-shape model is trained on Faker's first-name lists, and names from cultures
    # those lists lack are taken for damage far more often than the 0.6% measured on
    # names the lists hold (3-18% when a whole locale is left out; Quynh, Tzvi, Iqra), so
    # an absent twin with such a name could be claimed. Needs the "names" extra (Faker).
    heavy_damage: bool = False
    # A date of birth wrong in two of its three parts, with the record's own forename,
    # surname, sex and home, is read as the child when no other held record could be the
    # child and the records show that children of one home seldom share a forename: at most
    # this share of pairs of children at one address, born on different days, have the
    # same forename (an upper 95% bound, so a few hundred pairs are needed before it can
    # fall this low). Where many brothers share a first name (every son Muhammad, known by
    # his middle name) or cousins named alike share a home, the share is higher and the
    # date still caps the match at "possible". See matcher.SIBLING_NAMESAKE_SHARE for why
    # 1/64. 0 never lifts that cap.
    sibling_namesake_share: float = 1 / 64
    # Penalty for reading forename and surname the other way round.
    swap_penalty: float = 2.0
    # Score given to a decisive UPN match (check letter valid, equal to UPN or former UPN).
    upn_score: float = 100.0
    # Candidates scored per query at most (after blocking), to bound latency.
    max_candidates: int = 400
    # Input policing for CSV files.
    max_rows: int = 1_000_000
    max_file_bytes: int = 512 * 1024 * 1024
    weights: Mapping[str, Mapping[str, tuple[float, float]]] = field(
        default_factory=lambda: DEFAULT_WEIGHTS
    )

    def __post_init__(self) -> None:
        for name in ("unrecognised_name_share", "sibling_namesake_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1")
        if self.possible_threshold > self.match_threshold:
            raise ValueError("possible_threshold must not exceed match_threshold")
        if self.heavy_damage and importlib.util.find_spec("faker") is None:
            raise ValueError("heavy_damage needs Faker's name lists: install the gateway "
                             "with its 'names' extra (pip install 'cme-gateway[names]')")
        for fname, levels in self.weights.items():
            for level, (m, u) in levels.items():
                if not (0.0 < m <= 1.0 and 0.0 < u <= 1.0):
                    raise ValueError(f"weights[{fname}][{level}] must be probabilities in (0, 1]")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchConfig:
        """Build from a plain mapping (e.g. the ``[matching]`` table of the gateway TOML).

        Unknown keys are an error rather than silently ignored, because a misspelt
        threshold would otherwise fall back to the default without anyone noticing.
        ``weights`` may override individual levels: ``{"dob": {"exact": [0.9, 0.0002]}}``.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown matching settings: {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "weights":
                kwargs["weights"] = _merge_weights(value)
            elif f.type in ("int",):
                kwargs[f.name] = int(value)
            elif f.type in ("bool",):
                if not isinstance(value, bool):
                    raise ValueError(f"{f.name} must be true or false")
                kwargs[f.name] = value
            else:
                kwargs[f.name] = float(value)
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path, table: str = "matching") -> MatchConfig:
        """Read the ``[matching]`` table of a TOML file; a file without one gives defaults."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MatchInputError(
                "config-unreadable", f"The configuration file could not be read ({exc})."
            ) from exc
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise MatchInputError("config-invalid", f"[{table}] must be a table.")
        try:
            return cls.from_dict(section)
        except (TypeError, ValueError) as exc:
            raise MatchInputError("config-invalid", f"[{table}] is not valid: {exc}.") from exc

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "weights":
                value = {k: {lv: list(mu) for lv, mu in v.items()} for k, v in value.items()}
            out[f.name] = value
        return out


def _merge_weights(override: Mapping[str, Any]) -> Mapping[str, Mapping[str, tuple[float, float]]]:
    merged: dict[str, dict[str, tuple[float, float]]] = {
        k: dict(v) for k, v in DEFAULT_WEIGHTS.items()
    }
    for fname, levels in override.items():
        if fname not in merged:
            raise ValueError(f"unknown weight field {fname!r}")
        for level, pair in levels.items():
            if level not in merged[fname]:
                raise ValueError(f"unknown level {level!r} for field {fname!r}")
            m, u = pair
            merged[fname][level] = (float(m), float(u))
    return MappingProxyType({k: MappingProxyType(v) for k, v in merged.items()})
