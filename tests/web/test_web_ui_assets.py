"""The vendored browser assets are the ones VERSIONS.txt names, licensed, self-contained and shipped."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from litestar_workflows.web.openapi_pages import VENDORED_ASSETS

VENDOR = (
    Path(__file__).resolve().parents[2] / "src" / "litestar_workflows" / "web" / "ui" / "static" / "vendor"
)
PACKAGE_LINE = re.compile(r"^(\S+)@(\S+)  (\S+)/  (sha512-\S+)$")
FILE_LINE = re.compile(r"^  (\S+)  ([0-9a-f]{64})$")


def recorded() -> dict[str, dict[str, str]]:
    """VERSIONS.txt as {directory: {file: sha256}}."""
    files: dict[str, dict[str, str]] = {}
    directory = ""
    for line in (VENDOR / "VERSIONS.txt").read_text().splitlines():
        if match := PACKAGE_LINE.match(line):
            directory = match.group(3)
            files[directory] = {}
        elif match := FILE_LINE.match(line):
            files[directory][match.group(1)] = match.group(2)
    return files


def test_every_vendored_file_is_the_one_versions_txt_records() -> None:
    listed = recorded()
    assert set(listed) == {"mermaid", "swagger-ui", "redoc", "rapidoc", "elements"}
    for directory, files in listed.items():
        shipped = {path.name for path in (VENDOR / directory).iterdir()}
        assert shipped == set(files), directory
        for name, digest in files.items():
            assert hashlib.sha256((VENDOR / directory / name).read_bytes()).hexdigest() == digest, name
        assert any(name.startswith("LICENSE") for name in files), f"{directory} ships no licence"


def test_the_openapi_pages_point_at_files_that_exist() -> None:
    for assets in VENDORED_ASSETS.values():
        for _, local in assets.values():
            assert (VENDOR / local).is_file(), local


@pytest.mark.parametrize("script", ["mermaid/mermaid.min.js", "redoc/redoc.standalone.js"])
def test_scripts_load_no_chunks_and_name_no_cdn(script: str) -> None:
    text = (VENDOR / script).read_text(encoding="utf-8")
    if not script.startswith("redoc/"):  # ReDoc's bundle has "import(" in a syntax highlighter's regex
        assert "import(" not in text  # a lazily imported chunk would be fetched from where the build said
    assert "cdn.redoc.ly" not in text
    assert "fonts.googleapis.com" not in text
