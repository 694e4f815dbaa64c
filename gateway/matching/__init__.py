"""Record matching for CME enquiries, CTFs and referrals.

Public API::

    from gateway.matching import Matcher, MatchConfig, Record, Candidate, MatchInputError
    m = Matcher.from_records(records, MatchConfig())
    candidates = m.match(query, limit=5)

The package is pure Python with no I/O in its core (``records.py`` and ``cli.py`` read and
write CSV files) and logs only ids and counts, never a child's details.
"""

from gateway.matching.config import MatchConfig
from gateway.matching.errors import MatchInputError
from gateway.matching.matcher import MATCH, NO_MATCH, POSSIBLE, Candidate, Matcher
from gateway.matching.normalise import PartialDate
from gateway.matching.records import Record

__all__ = [
    "MATCH", "NO_MATCH", "POSSIBLE", "Candidate", "MatchConfig", "MatchInputError",
    "Matcher", "PartialDate", "Record",
]
