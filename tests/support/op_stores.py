"""The op store's contract suite runs on every store: `OpStoreKind` opens (and reopens)
one fresh store of a kind, SQLite in a temporary folder or PostgreSQL in a freshly
created database of the session's private cluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from launchers.postgres import PostgresCluster
from store.interfaces import OpStore
from store.opstate_postgres import PostgresOpStore
from store.opstate_sql import SqlOpStore
from store.opstate_sqlite import SqliteOpStore

KINDS = ("sqlite", "postgresql")


@dataclass
class OpStoreKind:
    name: str
    tmp: Path
    cluster: PostgresCluster | None = None

    def open(self, max_dead_letters: int = 10_000) -> SqlOpStore:
        """The same store each call (a reopen sees what the last one wrote)."""
        if self.cluster is not None:
            return PostgresOpStore(self.cluster.url, max_dead_letters=max_dead_letters)
        return SqliteOpStore(self.tmp / "ops.sqlite3", max_dead_letters=max_dead_letters)


def column(ops: OpStore, sql: str) -> list[object]:
    """The first column of a query's rows, through the store's own connection."""
    with ops.read() as cur:
        return [row[0] for row in cur.execute(sql).fetchall()]
