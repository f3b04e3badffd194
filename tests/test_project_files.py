"""The files a user of the repository reads before the code: licence, citation, changelog."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # tomllib is 3.11+, vprkit supports 3.10
VERSION = re.search(r'^version = "([^"]+)"', PYPROJECT, re.MULTILINE).group(1)


def test_licence_is_the_one_pyproject_declares():
    assert re.search(r'^license = \{ text = "MIT" \}', PYPROJECT, re.MULTILINE)
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Copyright (c) 2026 the vprkit authors" in text


def test_citation_matches_the_package():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert str(cff["version"]) == VERSION and cff["license"] == "MIT"
    assert all({"type", "title", "authors", "year"} <= set(ref) for ref in cff["references"])


def test_changelog_has_an_unreleased_section_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text and f"## [{VERSION}]" in text
