"""Ordering of workflow versions by meaning, not by text: 10.0.0 is newer than 9.0.0.

One key serves the registry and the database repositories, so that "the latest version" means
the same thing in memory and in the database.
"""

from __future__ import annotations

import re

_RUN = re.compile(r"\d+|[^\d.\-_]+")
"""A run of digits, or of other characters up to a separator (``.``, ``-``, ``_``)."""

Part = tuple[int, int, str]
"""``(1, number, "")`` for a digit run, ``(0, 0, text)`` otherwise: numbers rank above text."""


def _parts(text: str) -> tuple[Part, ...]:
    return tuple((1, int(run), "") if run.isdigit() else (0, 0, run) for run in _RUN.findall(text))


def version_key(version: str) -> tuple[tuple[Part, ...], int, tuple[Part, ...], str]:
    """A sort key for semantic-ish versions: release parts, is-final, pre-release parts.

    Digit runs compare as numbers and rank above text in the same place, so ``10.0`` sorts after
    ``9.9``, ``1.2.1`` after ``1.2`` and ``1.0.1`` after ``1.0.a``; ``rc10`` after ``rc2``. A
    release sorts after its pre-releases (``1.0.0`` after ``1.0.0-rc.1``), a leading ``v`` and
    letter case are ignored, and so is build metadata (``+...``) except as the final tie-break,
    the version text itself, which keeps the order total.
    """
    text = version.strip().lower().removeprefix("v")
    core, _, _build = text.partition("+")
    release, has_pre, pre = core.partition("-")
    return _parts(release), 0 if has_pre else 1, _parts(pre), version


__all__ = ("version_key",)
