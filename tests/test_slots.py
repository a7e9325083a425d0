"""The API's answer slots (assistant/web/slots.py): a freed slot goes to the longest waiter."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.web.slots import FairSlots


def _wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_at_most_n_holders_and_a_timeout_takes_nothing():
    slots = FairSlots(2)
    assert slots.acquire(timeout=0) and slots.acquire(timeout=0)
    assert not slots.acquire(timeout=0.05)  # full: times out
    slots.release()
    assert slots.acquire(timeout=0)  # the timed-out waiter did not keep a place or a slot
    slots.release()
    slots.release()
    with pytest.raises(ValueError):
        slots.release()


def test_a_freed_slot_goes_to_the_waiter_not_to_a_newcomer():
    slots = FairSlots(1)
    assert slots.acquire()
    got = threading.Event()

    def waiter():
        slots.acquire()
        got.set()

    t = threading.Thread(target=waiter)
    t.start()
    _wait_until(lambda: len(slots._waiters) == 1)
    slots.release()
    # A request arriving right after the release (before the waiter ran) must not barge in;
    # threading.Semaphore would give it the slot here.
    assert not slots.acquire(timeout=0)
    t.join(5)
    assert got.is_set()
    slots.release()
    assert slots.acquire(timeout=0)


def test_waiters_get_slots_in_arrival_order():
    slots = FairSlots(1)
    assert slots.acquire()
    order: list[int] = []
    threads = []
    for i in range(5):
        def run(i=i):
            slots.acquire()
            order.append(i)
            slots.release()

        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        _wait_until(lambda n=i + 1: len(slots._waiters) == n)  # each has queued before the next starts
    slots.release()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4]
