"""The backend's receipt book (contiguous seq per agent and topic), its persistence in
the op store, and the after-write hook that publishes receipts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.decode import Decoded
from ingest.receipt_book import ReceiptBook
from ingest.receipts import Receipts
from store.opstate_receipts import ReceiptLanes
from store.opstate_sqlite import SqliteOpStore

A = "ag-a1"


def test_the_mark_is_the_highest_contiguous_seq() -> None:
    book = ReceiptBook()
    assert book.note(A, "readings", [1, 2, 3], 0.0)
    assert book.receipt(A) == {"readings": 3, "events": 0, "health": 0}
    assert not book.note(A, "readings", [5, 6], 1.0)  # 4 is missing: the mark waits
    assert book.receipt(A)["readings"] == 3
    assert book.note(A, "readings", [4], 2.0)
    assert book.receipt(A)["readings"] == 6
    assert not book.note(A, "readings", [2, 6], 3.0)  # replays move nothing


def test_a_new_lane_starts_below_the_first_batch() -> None:
    book = ReceiptBook()
    assert book.note(A, "events", [42, 41], 0.0)
    assert book.receipt(A)["events"] == 42


def test_a_gap_that_never_fills_is_skipped_after_the_timeout() -> None:
    book = ReceiptBook(gap_timeout_s=300.0)
    book.note(A, "readings", [1], 0.0)
    book.note(A, "readings", [3], 10.0)
    assert not book.note(A, "readings", [4], 309.0)
    assert book.note(A, "readings", [5], 310.0)  # 2 was dropped by the agent's caps
    assert book.receipt(A)["readings"] == 5


def test_agents_and_topics_are_separate_and_unknown_topics_ignored() -> None:
    book = ReceiptBook()
    book.note(A, "readings", [7], 0.0)
    book.note("ag-b", "readings", [2], 0.0)
    assert not book.note(A, "snapshots", [1], 0.0)
    assert book.receipt(A)["readings"] == 7 and book.receipt("ag-b")["readings"] == 2


def test_bad_gap_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="gap_timeout_s"):
        ReceiptBook(gap_timeout_s=0)


def test_receipts_are_published_once_stored_and_survive_a_restart(tmp_path: Path) -> None:
    sent: list[tuple[str, dict[str, float]]] = []
    ops = SqliteOpStore(tmp_path / "ops.sqlite3")
    hook = Receipts(lambda agent, body: sent.append((agent, body)), lambda: 100.0,
                    ReceiptLanes(ops))
    batch = [Decoded(A, "readings", seq=1), Decoded(A, "readings", seq=2),
             Decoded(A, "events", seq=9), Decoded(A, "status"), Decoded(None, "?")]
    hook.after_write(batch)
    assert sent == [(A, {"ts": 100.0, "readings": 2, "events": 9, "health": 0})]
    hook.after_write([Decoded(A, "readings", seq=4)])  # a gap: nothing new to say
    assert len(sent) == 1
    hook.flush()  # a clean stop (saves are at most once a second)
    ops.close()

    ops = SqliteOpStore(tmp_path / "ops.sqlite3")
    again = Receipts(lambda agent, body: sent.append((agent, body)), lambda: 200.0,
                     ReceiptLanes(ops))
    again.after_write([Decoded(A, "readings", seq=3)])  # fills the gap saved before
    assert sent[-1] == (A, {"ts": 200.0, "readings": 4, "events": 9, "health": 0})
    ops.close()
