"""The package carries its own XSDs and samples; the top-level copies are the published ones."""

from __future__ import annotations

from pathlib import Path

from gateway.messages.schemas import EXAMPLES_DIR, SCHEMA_DIR

from .conftest import ROOT


def _files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob(pattern))}


def test_packaged_schemas_are_the_published_ones() -> None:
    published = _files(ROOT / "schemas", "*.xsd")
    assert published and _files(SCHEMA_DIR, "*.xsd") == published


def test_packaged_examples_are_the_published_ones() -> None:
    published = _files(ROOT / "examples", "*.xml")
    assert published and _files(EXAMPLES_DIR, "*.xml") == published
