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


def test_the_readme_settings_table_is_the_generated_one() -> None:
    """The README's table is `cme-gateway config`'s output, word for word (README review:
    it showed environment variables for the two tables that are read from the file only,
    and a TOML default in Python's spelling)."""
    from gateway.core.config import settings_docs

    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- settings:start")
    table = readme[readme.index("\n", start) + 1:readme.index("\n<!-- settings:end")]
    assert table == settings_docs()


def test_a_table_setting_in_the_environment_is_refused(tmp_path: Path) -> None:
    import pytest

    from gateway.core.config import load_settings
    from gateway.core.errors import GatewayError

    for name in ("CME_GATEWAY_ENDPOINTS", "CME_GATEWAY_MATCHING"):
        with pytest.raises(GatewayError) as info:
            load_settings(None, env={name: "x"}, party="352")
        assert info.value.code == "config-invalid" and name in (info.value.detail or "")
    assert load_settings(None, env={"CME_GATEWAY_ROLE": "hub"}, party="352").role == "hub"
