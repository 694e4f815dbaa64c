"""Matching configuration: thresholds, limits and Fellegi-Sunter m/u probabilities.

The defaults were chosen once on the synthetic development split (seed 1, see
``bench/matching_bench.py --fit``) and are *not* re-tuned per data set: an authority that
wants different behaviour changes its ``[matching]`` table in the gateway TOML file.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.matching.errors import MatchInputError

# P(level | same child) and P(level | different children) for every comparison level.
# m comes from true pairs of the development split, u from random pairs of its records.
# "missing" is always neutral (m == u) and is therefore not listed.
DEFAULT_WEIGHTS: Mapping[str, Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "forename": MappingProxyType(
            {
                "exact": (0.78, 0.012),
                "nickname": (0.07, 0.002),
                "close": (0.08, 0.002),
                "phonetic": (0.02, 0.003),
                "middle": (0.005, 0.0005),
                "similar": (0.02, 0.03),
                "initial": (0.003, 0.002),
                "disagree": (0.015, 0.95),
            }
        ),
        "surname": MappingProxyType(
            {
                "exact": (0.80, 0.004),
                "part": (0.04, 0.0004),
                "close": (0.07, 0.002),
                "phonetic": (0.01, 0.003),
                "similar": (0.01, 0.02),
                "disagree": (0.05, 0.97),
            }
        ),
        "dob": MappingProxyType(
            {
                "exact": (0.86, 0.0002),
                "partial": (0.03, 0.0025),
                "partial_year": (0.01, 0.07),
                "transposed": (0.03, 0.0002),
                "one_part": (0.06, 0.01),
                "year": (0.005, 0.07),
                "disagree": (0.005, 0.92),
            }
        ),
        "sex": MappingProxyType({"agree": (0.99, 0.5), "disagree": (0.01, 0.5)}),
        "location": MappingProxyType(
            {
                "address": (0.84, 0.0004),
                "postcode": (0.04, 0.0001),
                "neighbour": (0.005, 0.0004),
                "sector": (0.01, 0.004),
                "district": (0.01, 0.02),
                "disagree": (0.10, 0.975),
            }
        ),
        "middle_names": MappingProxyType(
            {"agree": (0.93, 0.05), "disagree": (0.07, 0.95)}
        ),
        "upn": MappingProxyType({"disagree": (0.02, 0.999)}),
    }
)


@dataclass(frozen=True)
class MatchConfig:
    """Everything that changes how records are matched or how inputs are policed."""

    # Band thresholds on the total log2 likelihood-ratio score.
    match_threshold: float = 12.0
    possible_threshold: float = 4.0
    # Two candidates in the match band closer than this are both demoted to "possible":
    # the matcher refuses to guess between (for example) twins.
    ambiguity_margin: float = 4.0
    # Surname, postcode and address are shared by a whole household, so their agreement
    # is not independent evidence. Their summed weight is capped so that disagreement on
    # forename and date of birth (the person fields) always outweighs them.
    household_cap: float = 14.0
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
        if self.possible_threshold > self.match_threshold:
            raise ValueError("possible_threshold must not exceed match_threshold")
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
