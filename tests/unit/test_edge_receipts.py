"""The agent's book of messages acknowledged by the broker and awaiting a receipt."""

from __future__ import annotations

import pytest

from edge.outbox import Kind, OutMessage
from edge.receipts import ReceiptBook

NUMBERED: dict[Kind, int] = {"readings": 100, "events": 100, "health": 100}


def msg(kind: Kind, seq: int, size: int = 10) -> OutMessage:
    return OutMessage(f"gw/v1/a/{kind}", b"x" * size, kind, 0.0, 1, seq)


def test_a_receipt_covers_what_it_names_and_nothing_more() -> None:
    book = ReceiptBook()
    for s in (1, 2, 3):
        assert book.sent(msg("readings", s), 0.0) == []
    done = book.receipt({"readings": 2, "events": 0}, NUMBERED, 1.0)
    assert [m.seq for m in done] == [1, 2]
    assert book.waiting == 1
    assert book.sent(msg("readings", 2), 2.0) == [msg("readings", 2)]  # covered already


def test_a_reconnect_resends_everything_events_first() -> None:
    book = ReceiptBook()
    book.sent(msg("readings", 1), 0.0)
    book.sent(msg("events", 1), 0.0)
    book.sent(msg("health", 1), 0.0)
    assert not book.has_resend()
    book.reconnected(1.0)
    order = [book.next_resend(("events", "health", "readings")) for _ in range(3)]
    assert [m.kind for m in order if m] == ["events", "health", "readings"]
    assert book.resent == 3 and book.waiting == 0


def test_stalled_receipts_resend_after_the_timeout_with_a_growing_wait() -> None:
    book = ReceiptBook(timeout_s=30.0, max_timeout_s=60.0)
    book.sent(msg("events", 1), 0.0)
    book.tick(29.0)
    assert not book.has_resend()
    book.tick(30.0)
    resent = book.next_resend(("events",))
    assert resent is not None
    book.sent(resent, 31.0)
    book.tick(59.0)  # the wait doubled to 60 s after the first resend
    assert not book.has_resend()
    book.tick(91.0)  # 60 s after its PUBACK
    assert book.has_resend()


def test_moving_receipts_mean_no_resend() -> None:
    book = ReceiptBook(timeout_s=30.0)
    book.sent(msg("readings", 1), 0.0)
    book.sent(msg("readings", 2), 20.0)
    book.receipt({"readings": 1}, NUMBERED, 25.0)
    book.tick(50.0)  # the backend is behind but moving: 2 waits
    assert not book.has_resend()


def test_a_receipt_beyond_our_numbering_is_ignored() -> None:
    book = ReceiptBook()
    book.sent(msg("readings", 1), 0.0)
    assert book.receipt({"readings": 500}, NUMBERED, 1.0) == []
    assert book.receipt({"readings": True, "events": "x"}, NUMBERED, 1.0) == []
    assert book.waiting == 1


def test_a_receipt_covers_messages_queued_for_resend() -> None:
    book = ReceiptBook()
    book.sent(msg("events", 1), 0.0)
    book.sent(msg("events", 2), 0.0)
    book.reconnected(1.0)
    assert [m.seq for m in book.receipt({"events": 1}, NUMBERED, 2.0)] == [1]
    nxt = book.next_resend(("events",))
    assert nxt is not None and nxt.seq == 2


def test_over_the_byte_cap_telemetry_goes_before_events() -> None:
    book = ReceiptBook(max_bytes=25)
    book.sent(msg("events", 1), 0.0)
    book.sent(msg("readings", 1), 0.0)
    gone = book.sent(msg("events", 2), 0.0)
    assert [(m.kind, m.seq) for m in gone] == [("readings", 1)]
    assert book.forgotten == 1 and book.waiting == 2


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        ReceiptBook(timeout_s=60.0, max_timeout_s=30.0)
