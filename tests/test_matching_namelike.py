"""The name-shape model: real names it has never seen look like names; damage does not."""

from __future__ import annotations

import pytest

from gateway.matching import namelike


@pytest.mark.parametrize("name", [
    # Real forenames from several cultures (checked absent from the training lists below).
    "HANIF", "NILOU", "OLUWASEUN", "JAGJIT", "LLEUCU", "CHIDI", "AAROHI", "SAPNA",
])
def test_unseen_real_names_look_like_names(name: str) -> None:
    assert name not in set(namelike.training_names())
    assert namelike.looks_like_a_name(name), namelike.name_bits(name)


@pytest.mark.parametrize("spelling", [
    "DRWTFL", "CICV", "HRWWRH", "JDQCDE", "SSRPR", "KDZN", "MRBTAWR",
])
def test_damaged_spellings_do_not(spelling: str) -> None:
    assert not namelike.looks_like_a_name(spelling), namelike.name_bits(spelling)


def test_the_training_names_are_many_and_clean() -> None:
    names = namelike.training_names()
    assert len(names) > 15_000
    assert names == sorted(set(names))
    assert all(n.isascii() and n.isalpha() and n.isupper() for n in names)
    assert "WM" not in names  # abbreviations ("Wm", "Jr") are left out


def test_a_model_trained_on_other_names_scores_by_those(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        namelike.build(["ANNA", "HANNAH", "JOHANNA", "SUSANNA"] * 3)
        assert namelike.name_bits("ANNA") > namelike.name_bits("DRWTFL")
        assert namelike.name_bits("HANNA") > namelike.name_bits("OLIVER")
    finally:
        namelike.build()


def test_too_few_training_names_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namelike, "_faker_forenames", lambda: {"Anna"})
    with pytest.raises(RuntimeError, match="forenames to learn"):
        namelike.training_names()
