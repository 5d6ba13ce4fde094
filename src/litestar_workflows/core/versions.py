"""Ordering of workflow versions by meaning, not by text: 10.0.0 is newer than 9.0.0."""

from __future__ import annotations

import re

_SPLIT = re.compile(r"[.\-+_]")


Part = tuple[int, int | str]


def _parts(text: str) -> tuple[Part, ...]:
    return tuple((1, int(p)) if p.isdigit() else (0, p) for p in _SPLIT.split(text) if p)


def version_key(version: str) -> tuple[tuple[Part, ...], int, tuple[Part, ...]]:
    """A sort key for semantic-ish versions: (release parts, is-final, pre-release parts).

    Numeric parts compare as numbers and rank above text parts, so ``10.0`` sorts after ``9.9``
    and ``1.2.1`` after ``1.2``; a release sorts after its pre-releases (``1.0.0`` after
    ``1.0.0-rc1``); a leading ``v`` is ignored.
    """
    text = version.strip().lower().removeprefix("v")
    release, _, pre = text.partition("-")
    return _parts(release), 0 if pre else 1, _parts(pre)


__all__ = ("version_key",)
