"""The embedded op store's WAL is checkpointed by a thread of its own, never inside a
writer's commit (store.sqlite_checkpointer)."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from store.opstate_sqlite import SqliteOpStore
from tests.support.waiting import wait_for

PAGE = 4096
AUTO_PAGES = 1000  # SQLite's default wal_autocheckpoint


def write_pages(store: SqliteOpStore, pages: int) -> None:
    """About `pages` WAL frames: one dead letter of a page each, one commit each."""
    for n in range(pages):
        store.add_dead_letter("gw/v1/a/readings", "a", "bad_json: x", b"x" * PAGE, 1.0 + n)


def wal_frames(path: Path) -> int:
    """The frames now in the WAL: a PASSIVE checkpoint reports them (and copies them)."""
    with closing(sqlite3.connect(str(path))) as con:
        return int(con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_the_writers_commits_never_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "ops.sqlite3"
    store = SqliteOpStore(path, checkpoint_every_s=3600.0)  # the thread stays idle
    try:
        write_pages(store, AUTO_PAGES + 300)
        # A commit past 1,000 frames used to checkpoint and restart the WAL (and sync
        # the database file, inside that commit); now every frame is still there.
        assert wal_frames(path) > AUTO_PAGES + 300
    finally:
        store.close()


def test_the_checkpointer_copies_the_wal_back_on_its_own(tmp_path: Path) -> None:
    store = SqliteOpStore(tmp_path / "ops.sqlite3", checkpoint_every_s=0.05)
    try:
        write_pages(store, 200)

        def copied_all() -> bool:
            last = store.checkpointer.last
            return last is not None and last[0] >= 200 and last[1] == last[0]

        assert wait_for(copied_all, 10, every=0.01), store.checkpointer.last
        write_pages(store, 10)  # the writers go on after it
    finally:
        store.close()


def test_a_failing_checkpoint_is_said_once_and_its_recovery_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ops.sqlite3"
    store = SqliteOpStore(path, checkpoint_every_s=3600.0)
    checkpointer = store.checkpointer
    try:
        write_pages(store, 5)
        # A PASSIVE checkpoint fails on little but a broken connection (a full disk
        # cannot be made here without root): its own connection is swapped for a closed one.
        real = checkpointer._con
        checkpointer._con = sqlite3.connect(":memory:")
        checkpointer._con.close()
        with caplog.at_level(logging.WARNING, logger="store.sqlite_checkpointer"):
            for _ in range(3):
                checkpointer.round()
            assert checkpointer.failing
            checkpointer._con = real
            checkpointer.round()
            checkpointer.round()
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 2, said
        assert "failing" in said[0] and "works again" in said[1]
        assert not checkpointer.failing and checkpointer.last is not None
    finally:
        store.close()
