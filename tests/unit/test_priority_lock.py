"""PriorityLock: mutual exclusion, and an urgent waiter goes before ordinary ones."""

from __future__ import annotations

import threading
import time

from gridwatch.priority_lock import PriorityLock


def test_an_urgent_waiter_gets_the_lock_before_a_chunked_ordinary_holder_retakes_it() -> None:
    lock = PriorityLock()
    order: list[str] = []
    holding = threading.Event()

    def chunked_reader() -> None:
        for i in range(50):
            with lock:
                holding.set()
                order.append(f"chunk{i}")
                time.sleep(0.005)

    reader = threading.Thread(target=chunked_reader)
    reader.start()
    holding.wait(5)
    with lock.hold(urgent=True):
        order.append("alarm")
    reader.join(10)
    # The alarm waited for the chunk in progress (and perhaps one more), not for 50.
    assert order.index("alarm") <= 3, order[:10]


def test_holders_exclude_each_other() -> None:
    lock = PriorityLock()
    inside = 0
    worst = 0

    def work(urgent: bool) -> None:
        nonlocal inside, worst
        for _ in range(200):
            with lock.hold(urgent):
                inside += 1
                worst = max(worst, inside)
                inside -= 1

    threads = [threading.Thread(target=work, args=(u,)) for u in (True, False, True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert worst == 1
