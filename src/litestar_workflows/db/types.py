"""Column types shared by the models and the migrations.

Why not ``advanced_alchemy.types.JsonB``: advanced-alchemy's ``JsonB`` carries an Oracle variant whose
``_set_table`` hook calls ``sqlalchemy.util.portable_instancemethod``, which SQLAlchemy 2.1 removed, so
merely attaching a ``JsonB`` column to a table raises ``AttributeError`` on SQLAlchemy 2.1 (seen with
advanced-alchemy 1.12). :data:`JsonB` below emits exactly the same DDL on the backends we support --
``JSONB`` on PostgreSQL (and CockroachDB), ``JSON`` elsewhere -- without that hook.

It differs from advanced-alchemy's type in one deliberate way: ``none_as_null=True``. Python ``None``
is stored as SQL ``NULL`` (so ``col IS NULL`` works and a ``NOT NULL`` column rejects ``None``) instead
of the JSON literal ``null``. Reading either back gives ``None``.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.dialects.postgresql import JSONB as PG_JSONB
from sqlalchemy.types import JSON, TypeEngine

__all__ = ("JsonB",)

JsonB: Final[TypeEngine[Any]] = (
    JSON(none_as_null=True)
    .with_variant(PG_JSONB(none_as_null=True), "postgresql")
    .with_variant(PG_JSONB(none_as_null=True), "cockroachdb")
)
"""JSON column type: native ``JSONB`` on PostgreSQL, ``JSON`` (text-backed on SQLite) elsewhere."""
