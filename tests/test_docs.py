"""Documentation is part of the feature: every setting and error code is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gateway.core.config import Settings
from gateway.core.errors import ERRORS

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f.name for f in dataclasses.fields(Settings) if f"`{f.name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_every_error_code_is_documented() -> None:
    doc = (ROOT / "docs" / "errors.md").read_text()
    missing = [code for code in ERRORS if f"`{code}`" not in doc]
    assert not missing, f"error codes missing from docs/errors.md: {missing}"


def test_changelog_exists() -> None:
    assert "## " in (ROOT / "CHANGELOG.md").read_text()
