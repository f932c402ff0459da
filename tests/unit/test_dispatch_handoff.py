"""PriorityHandoff: one job at a time, urgent first, one key's jobs in order."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from dispatch.handoff import PriorityHandoff

Item = tuple[str, str]  # (key, severity)


class SlowApply:
    """Records the order jobs are applied in; each takes `seconds`."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.order: list[Item] = []
        self.started = threading.Event()

    def __call__(self, item: Item) -> str:
        self.started.set()
        time.sleep(self.seconds)
        self.order.append(item)
        return f"applied {item[0]}"


def handoff(apply: SlowApply) -> PriorityHandoff[Item, str]:
    return PriorityHandoff(apply, lambda i: i[1] == "critical", lambda i: [i[0]])


def test_one_thread_applies_its_jobs_in_order_with_results() -> None:
    apply = SlowApply()
    h = handoff(apply)
    items = [("a", "minor"), ("b", "critical"), ("c", "minor")]
    assert h.finish(h.submit(items)) == ["applied a", "applied b", "applied c"]
    # Submitted together, the critical one goes first: nothing was in progress.
    assert apply.order == [("b", "critical"), ("a", "minor"), ("c", "minor")]


def test_a_critical_change_overtakes_a_storm_submitted_before_it() -> None:
    apply = SlowApply(seconds=0.002)
    h = handoff(apply)
    storm = h.submit([(f"minor-{i}", "minor") for i in range(300)])
    worker = threading.Thread(target=h.finish, args=(storm,))
    worker.start()
    apply.started.wait(5)
    h.finish(h.submit([("fire", "critical")]))
    applied_before_fire = apply.order.index(("fire", "critical"))
    worker.join(10)
    assert len(apply.order) == 301
    # At most the jobs in progress when it was submitted (a handful) went before it.
    assert applied_before_fire < 20, applied_before_fire


def test_a_critical_change_waits_behind_a_queued_lesser_change_of_its_own_alert() -> None:
    apply = SlowApply(seconds=0.002)
    h = handoff(apply)
    first = h.submit([("x", "minor")] + [(f"m{i}", "minor") for i in range(20)]
                     + [("y", "major")])
    second = h.submit([("y", "critical"), ("z", "critical")])  # y's major is still queued
    h.finish(first)
    h.finish(second)
    order = [k for k, _ in apply.order]
    assert order.index("z") < order.index("m0")  # z overtook
    # y's critical change stayed behind y's major one, and so behind the whole queue.
    assert apply.order[-2:] == [("y", "major"), ("y", "critical")]


def test_an_error_goes_to_the_submitter_and_the_rest_still_run() -> None:
    def apply(item: Item) -> str:
        if item[0] == "bad":
            raise OSError("store locked")
        return item[0]

    h: PriorityHandoff[Item, str] = PriorityHandoff(apply, lambda i: False, lambda i: [i[0]])
    ticket = h.submit([("ok", "minor"), ("bad", "minor"), ("after", "minor")])
    with pytest.raises(OSError, match="store locked"):
        h.finish(ticket)
    assert [j.result for j in ticket.jobs] == ["ok", None, "after"]
    assert h.finish(h.submit([])) == []


def test_a_finished_ticket_leaves_nothing_for_the_garbage_collector() -> None:
    # A full collection stops every thread, the alarm lane's too: a storm's changes
    # must be freed as soon as they are dispatched, not wait for one.
    h = handoff(SlowApply())
    gc.collect()
    gc.disable()
    try:
        ticket = h.submit([(f"k{i}", "minor") for i in range(50)])
        assert len(h.finish(ticket)) == 50
        del ticket
        assert gc.collect() == 0
    finally:
        gc.enable()
