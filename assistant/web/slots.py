"""Answer slots served in arrival order.

`threading.Semaphore` lets a request that arrives just as a slot is freed take it ahead of those
already waiting, and a woken waiter that lost that race waits again behind the others. Under many
participants at once that stretches the tail: some turns wait several rounds while later ones pass
(docs/performance.md, "Many participants at once"). Here a freed slot goes straight to the
longest-waiting request, and a newcomer queues behind it.
"""

from __future__ import annotations

import threading
from collections import deque


class FairSlots:
    """At most `n` holders at once; waiters get a slot in the order they asked for one."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("at least one slot")
        self._n = n
        self._free = n
        self._lock = threading.Lock()
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, timeout: float | None = None) -> bool:
        """Take a slot, waiting at most `timeout` seconds (None: as long as it takes)."""
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return True
            granted = threading.Event()
            self._waiters.append(granted)
        if granted.wait(timeout):
            return True
        with self._lock:
            if granted.is_set():  # handed over just as the wait timed out: it is ours
                return True
            self._waiters.remove(granted)
            return False

    def release(self) -> None:
        """Give the slot to the longest waiter, or back to the pool."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()
            elif self._free < self._n:
                self._free += 1
            else:
                raise ValueError("released more often than acquired")
