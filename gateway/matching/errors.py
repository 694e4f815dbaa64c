"""Errors raised by the matching engine.

A rejected input file must be explainable to an officer and to a machine, so every
error carries a stable ``code`` (kebab-case, never reworded) and a plain-English sentence.
"""

from __future__ import annotations


class MatchInputError(ValueError):
    """An input file or record that the matcher refuses to process.

    ``code`` is stable and machine-readable (for example ``records-missing-column``);
    ``sentence`` is for people. Neither ever contains a child's personal details: only
    file names, column names, row numbers and limits.
    """

    def __init__(self, code: str, sentence: str) -> None:
        super().__init__(f"{code}: {sentence}")
        self.code = code
        self.sentence = sentence
