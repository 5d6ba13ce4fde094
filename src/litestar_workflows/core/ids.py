"""Identifiers: time-ordered UUIDs (version 7 layout), cheap to make and kind to database indexes."""

from __future__ import annotations

import itertools
import os
import time
from uuid import UUID, SafeUUID

_new = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown
_COUNTER_BITS = 40


def _prefix() -> int:
    """Milliseconds now, the version and variant bits, and 34 random bits for this process."""
    millis = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(8))
    rand_a = random_bits & 0xFFF
    rand_b = (random_bits >> 12) & ((1 << (62 - _COUNTER_BITS)) - 1)
    return (millis << 80) | ((0x7000 | rand_a) << 64) | (0b10 << 62) | (rand_b << _COUNTER_BITS)


_state = [_prefix(), itertools.count()]


def _reseed() -> None:
    """Draw a new prefix in a forked child.

    Without it a child makes the very ids its parent and its siblings make (Celery's prefork
    pool children, servers that fork after import).
    """
    _state[:] = [_prefix(), itertools.count()]


os.register_at_fork(after_in_child=_reseed)


def new_uuid7() -> UUID:
    """A UUID in the version-7 layout: a millisecond timestamp first, so ids sort by age.

    The timestamp and 34 random bits are drawn when the process starts (and again after 2**40
    ids); a counter fills the low 40 bits. Ids are therefore unique within a process and, with
    overwhelming probability, across processes, and they grow monotonically within a process,
    which keeps B-tree inserts at the right edge. ``uuid.UUID.__init__`` is bypassed because its
    checks cost more than all of this.
    """
    count = next(_state[1])  # type: ignore[call-overload]
    if count >> _COUNTER_BITS:
        _state[:] = [_prefix(), itertools.count(1)]
        count = 0
    uid: UUID = _new(UUID)
    _set(uid, "int", _state[0] | count)
    _set(uid, "is_safe", _UNKNOWN)
    return uid


__all__ = ("new_uuid7",)
