"""The release's paperwork agrees with itself: the changelog's newest version is ``__version__``, the licence is
the one declared."""

from __future__ import annotations

import configparser
import importlib.metadata
import re
from pathlib import Path

import realtime_service

ROOT = Path(__file__).resolve().parents[1]
RELEASE = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?$", re.MULTILINE)


def releases() -> list[tuple[str, str | None]]:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return [(m["version"], m["date"]) for m in RELEASE.finditer(text)]


def test_the_changelogs_newest_release_is_the_package_version() -> None:
    released = [(version, date) for version, date in releases() if version != "Unreleased"]
    assert released, "CHANGELOG.md has no release heading like '## [0.1.0] - 2026-11-26'"
    version, date = released[0]
    assert version == realtime_service.__version__
    assert date is not None


def test_the_installed_metadata_has_the_same_version() -> None:
    assert importlib.metadata.version("realtime-service") == realtime_service.__version__


def test_the_changelog_follows_keep_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text
    headings = [version for version, _ in releases()]
    assert headings.count("Unreleased") <= 1
    assert headings[0] == "Unreleased" or "Unreleased" not in headings
    sections = set(re.findall(r"^### (.+)$", text, re.MULTILINE))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_the_licence_file_is_the_mit_licence_setup_cfg_declares() -> None:
    metadata = configparser.ConfigParser()
    metadata.read(ROOT / "setup.cfg", encoding="utf-8")
    assert metadata["metadata"]["license"] == "MIT"
    assert metadata["metadata"]["license_files"] == "LICENSE"
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n")
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in licence
