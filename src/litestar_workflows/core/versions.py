"""Ordering of workflow versions by meaning, not by text: 10.0.0 is newer than 9.0.0."""

from __future__ import annotations

import re

_SPLIT = re.compile(r"[.\-+_]")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key for semantic-ish versions.

    Numeric parts compare as numbers and rank above text parts, so ``1.0.0`` sorts after
    ``1.0.0-rc1`` (a pre-release) and ``10.0`` after ``9.9``; a leading ``v`` is ignored.
    """
    text = version.strip().lower().removeprefix("v")
    release, _, pre = text.partition("-")
    parts: list[tuple[int, int | str]] = [
        (1, int(p)) if p.isdigit() else (0, p) for p in _SPLIT.split(release) if p
    ]
    # A release ranks above any of its pre-releases: mark it with a high sentinel.
    parts.append((2, 0) if not pre else (0, 0))
    parts.extend((1, int(p)) if p.isdigit() else (0, p) for p in _SPLIT.split(pre) if p)
    return tuple(parts)


__all__ = ("version_key",)
