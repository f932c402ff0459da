"""The op stores a dispatch benchmark runs on: SQLite always, PostgreSQL when asked.

`--ops postgresql` starts a private cluster (launchers.postgres, fsync on, as SQLite's
synchronous=FULL); `--ops postgresql://...` uses that server, each round in a scratch
schema of its own that is dropped afterwards, so a real database is never touched."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import psycopg

from store.interfaces import OpStore

OpenStore = Callable[[Path], AbstractContextManager[OpStore]]


@dataclass(frozen=True, slots=True)
class OpsTarget:
    name: str  # "SQLite" or "PostgreSQL"
    open: OpenStore  # a fresh, empty store for one round (a folder for files given)


@contextmanager
def _sqlite(root: Path) -> Iterator[OpStore]:
    from store.opstate_sqlite import SqliteOpStore

    store = SqliteOpStore(root / "ops.sqlite3")
    try:
        yield store
    finally:
        store.close()


def _postgres(url: str) -> OpenStore:
    from store.opstate_postgres import PostgresOpStore

    @contextmanager
    def open_round(_: Path) -> Iterator[OpStore]:
        schema = f"gw_bench_{secrets.token_hex(4)}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}".encode())
        store = PostgresOpStore(url, search_path=schema)
        try:
            yield store
        finally:
            store.close()
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE".encode())

    return open_round


@contextmanager
def ops_targets(ops: str | None) -> Iterator[list[OpsTarget]]:
    """SQLite, then PostgreSQL when `ops` names it ('postgresql' or a URL)."""
    sqlite = OpsTarget("SQLite", _sqlite)
    if ops is None or ops == "embedded":
        yield [sqlite]
        return
    if ops == "postgresql":
        from launchers.postgres import running_postgres

        cluster: AbstractContextManager[object] = running_postgres(fsync=True)
    elif ops.startswith(("postgresql://", "postgres://")):
        cluster = nullcontext(ops)
    else:
        raise ValueError(f"--ops {ops!r}: expected postgresql (a private cluster) or a URL")
    with cluster as running:
        url = ops if isinstance(running, str) else running.url  # type: ignore[attr-defined]
        yield [sqlite, OpsTarget("PostgreSQL", _postgres(url))]
