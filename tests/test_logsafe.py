"""Unexpected failures are logged by type and place, never with their message."""

from datetime import date

from gateway.core.logsafe import failure


def test_failure_names_type_and_place_but_not_the_value() -> None:
    try:
        date.fromisoformat("2015-13-45")  # a child's (bad) date of birth
    except ValueError as exc:
        text = failure(exc)
    assert text.startswith("ValueError at test_logsafe.py:")
    assert "2015" not in text
