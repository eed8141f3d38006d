"""The database planner's statistics: ANALYZE after bulk changes and migrations.

PostgreSQL plans each statement from statistics about the tables (row counts,
the spread of each column's values) that ANALYZE gathers and that autovacuum
refreshes only a minute or more after a table changed. A farm just set up, or
just given a job of 100,000 frames, has none or stale ones, and its first
scheduler ticks were planned blind (issue #8). So the farm analyses its tables
itself where it knows they changed a lot: after ``migrate``, and when a bulk
insert of tasks is large next to what the table held. SQLite plans well
without statistics; these are no-ops there.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "ANALYZE_MIN_ROWS",
    "ANALYZE_SHARE",
    "analyze_after_bulk_insert",
    "analyze_after_migrate",
    "farm_tables",
]

logger = logging.getLogger(__name__)

#: A bulk insert of at least this many rows that is also at least
#: `ANALYZE_SHARE` of the rows the table held (or into a table never
#: analysed, or analysed empty) analyses the table. Smaller ones are left to
#: autovacuum, whose default thresholds are of the same kind (50 rows and
#: 10 % of the table); the scheduler's statements do not need statistics to
#: be fast, only to be at their best.
ANALYZE_MIN_ROWS = 1_000
ANALYZE_SHARE = 0.2


def farm_tables() -> list[str]:
    """The tables of the farm's models, many-to-many tables included."""
    tables: set[str] = set()
    for model in apps.get_app_config("farm").get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            tables.add(model._meta.db_table)
    return sorted(tables)


def _analyze(db: BaseDatabaseWrapper, tables: list[str]) -> None:
    quoted = ", ".join(db.ops.quote_name(table) for table in tables)
    with db.cursor() as cursor:
        cursor.execute(f"ANALYZE {quoted}")


def analyze_after_bulk_insert(table: str, rows: int) -> bool:
    """ANALYZE ``table`` if ``rows`` new rows change it a lot; returns whether.

    Call it after the insert, inside its transaction: PostgreSQL's ANALYZE
    counts and samples the rows the transaction itself inserted, so the
    statistics are there when it commits. Inserts of fewer than
    `ANALYZE_MIN_ROWS` cost nothing; larger ones one look-up of the table's
    row estimate (``pg_class.reltuples``, -1 for a table never analysed),
    and the ANALYZE
    itself (a sample of 30,000 rows at most, some 100 ms on a million-row
    table) when it is due.
    """
    if connection.vendor != "postgresql" or rows < ANALYZE_MIN_ROWS:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table]
        )
        (known,) = cursor.fetchone()
    if known > 0 and rows < ANALYZE_SHARE * known:
        return False
    _analyze(connection, [table])
    return True


def analyze_after_migrate(
    sender: Any, using: str = "default", plan: Any = None, **kwargs: Any
) -> None:
    """``post_migrate`` receiver: ANALYZE the farm's tables that hold data.

    Migrations may create, rewrite or refill tables, and a database restored
    from a dump has no statistics at all: either way the tables stay without
    them until autovacuum comes round. Empty tables are left alone, as never
    analysed: PostgreSQL then sizes them from their pages as they fill,
    rather than taking "analysed and empty" for a fact. PostgreSQL only;
    after the ``migrate`` command only (which sends a ``plan``), not after
    ``flush``.
    """
    from django.db import connections

    db = connections[using]
    if plan is None or db.vendor != "postgresql":
        return
    existing = set(db.introspection.table_names())
    tables = [table for table in farm_tables() if table in existing]
    if not tables:
        return
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE oid = ANY(%s::regclass[])"
            " AND pg_relation_size(oid) > 0",
            [tables],
        )
        filled = sorted(name for (name,) in cursor.fetchall())
    if filled:
        _analyze(db, filled)
        logger.debug("analysed %d tables after migrating", len(filled))
