"""The embedded operational store: one SQLite file, for one machine and the demo.

One connection, guarded by a lock, serves every writing thread: operational writes are
few and short, and one connection keeps each read-modify-write (an alert change and its
log entry) trivially atomic. Each write runs as `BEGIN IMMEDIATE ... COMMIT` in WAL
mode with `synchronous=FULL`, so when a method returns its change is on disk.
Reads (`read()`: the alert streams, the API) have a connection of their own, each
block one read transaction on WAL's last committed snapshot: they never wait for a
write's fsync, which under a readings load's disk traffic took 100 ms and more and
held a fire alarm back from the guard's stream.
Inside `batch()` every call of the batching thread joins the batch's one transaction,
committed (one fsync) when the batch ends (issue 16). The WAL is checkpointed by a
thread of its own (`store.sqlite_checkpointer`), never inside a writer's commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from store.interfaces import Cursor
from store.opstate_schema import create_schema
from store.opstate_sql import SqlOpStore
from store.sqlite_checkpointer import EVERY_S, WalCheckpointer


class SqliteOpStore(SqlOpStore):
    """OpStore on one SQLite file (created, with its schema, if absent)."""

    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(
        self, path: Path, max_dead_letters: int = 10_000, checkpoint_every_s: float = EVERY_S
    ) -> None:
        super().__init__(max_dead_letters)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # The thread running a batch, and the batch's cursor: that thread's calls join it.
        self._batch_owner: int | None = None
        self._batch_cur: sqlite3.Cursor | None = None
        # Autocommit mode: transactions are opened explicitly in `_tx`.
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.execute("PRAGMA foreign_keys=ON")
        self._con.execute("PRAGMA busy_timeout=5000")
        self._con.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
        with self._tx() as cur:
            create_schema(cur)
        self.checkpointer = WalCheckpointer(path, checkpoint_every_s)
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._reader.execute("PRAGMA query_only=ON")
        self._reader.execute("PRAGMA busy_timeout=5000")

    def tx(self) -> AbstractContextManager[Cursor]:
        return self._tx()

    def redoable_tx(self) -> AbstractContextManager[Cursor]:
        return self._tx(durable=False)

    def alert_tx(self) -> AbstractContextManager[Cursor]:
        # BEGIN IMMEDIATE already serializes every writer of the file.
        return self._tx()

    def read(self) -> AbstractContextManager[Cursor]:
        return self._read()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every call this thread makes in the block; nested
        batches join the outer one. An exception rolls the whole batch back."""
        if self._batch_owner == threading.get_ident():
            yield
            return
        with self._tx() as cur:
            self._batch_owner, self._batch_cur = threading.get_ident(), cur
            try:
                yield
            finally:
                self._batch_owner, self._batch_cur = None, None

    def listen(self, on_seq: Callable[[int], None]) -> None:
        """Only this process writes an embedded store: its own dispatcher notifies."""

    def close(self) -> None:
        self.checkpointer.close()
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._con.close()

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[sqlite3.Cursor]:
        if self._batch_cur is not None and self._batch_owner == threading.get_ident():
            yield self._batch_cur
            return
        # IMMEDIATE takes the write lock up front, so a read-then-write cannot be
        # overtaken by another process holding the same file.
        with self._lock:
            cur = self._con.cursor()
            if not durable:
                # NORMAL in WAL mode: the commit is in the WAL (safe from a crash of
                # this process) but not synced; the next FULL commit syncs it too.
                cur.execute("PRAGMA synchronous=NORMAL")
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    cur.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT leaves the transaction open; end it so the next can
                    # begin.
                    cur.execute("ROLLBACK")
                    raise
            finally:
                if not durable:
                    cur.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        if self._batch_cur is not None and self._batch_owner == threading.get_ident():
            yield self._batch_cur
            return
        with self._read_lock:
            cur = self._reader.cursor()
            cur.execute("BEGIN")  # one snapshot for the whole block
            try:
                yield cur
            finally:
                cur.execute("COMMIT")
