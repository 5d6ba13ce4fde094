"""Version ordering shared by the registry and the database repositories."""

from __future__ import annotations

import pytest

from litestar_workflows.core.versions import version_key
from litestar_workflows.db.repositories import version_sort_key


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("9.0.0", "10.0.0"),
        ("1.9", "1.10"),
        ("1.2", "1.2.1"),
        ("1.0.a", "1.0.1"),
        ("2.0.0-rc.1", "2.0.0"),
        ("2.0.0-rc.2", "2.0.0-rc.10"),
        ("2.0.0-rc2", "2.0.0-rc10"),
        ("1.0.0+build.9", "1.0.1"),
        ("v1.9", "1.10"),
        ("1.0.0-RC1", "1.0.0-rc2"),
        ("alpha", "beta"),
        ("2024.1", "2024.12"),
    ],
)
def test_newer_versions_sort_later(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)
    assert max([newer, older], key=version_key) == newer


def test_build_metadata_only_breaks_ties() -> None:
    assert version_key("1.0.0+a")[:3] == version_key("1.0.0+b")[:3] == version_key("1.0.0")[:3]
    assert sorted(["1.0.0+b", "1.0.0+a"], key=version_key) == ["1.0.0+a", "1.0.0+b"]


def test_the_repositories_order_versions_as_the_registry_does() -> None:
    versions = ["10.0.0", "2.0.0-rc10", "2.0.0", "2.0.0-rc2", "v9.1", "9.1.0+ci"]
    assert sorted(versions, key=version_sort_key) == sorted(versions, key=version_key)
    assert sorted(versions, key=version_key) == [
        "2.0.0-rc2",
        "2.0.0-rc10",
        "2.0.0",
        "v9.1",
        "9.1.0+ci",
        "10.0.0",
    ]
