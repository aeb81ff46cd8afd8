"""The work queue of ``colorize serve``: how many requests run at once and how many may wait."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


class WorkQueue:
    """At most ``workers`` jobs run at once and ``queue`` more wait; beyond that, 503."""

    def __init__(self, workers: int, queue: int):
        self.workers = max(1, workers)
        self.limit = self.workers + max(0, queue)
        self.pending = 0  # only touched from the event loop thread
        self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="colorize-web")
        self._job_seconds = 1.0

    def admit(self) -> bool:
        if self.pending >= self.limit:
            return False
        self.pending += 1
        return True

    def release(self) -> None:
        self.pending -= 1

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue's length times the recent job time."""
        return int(min(60, max(1, math.ceil(self.pending * self._job_seconds / self.workers))))

    async def run(self, fn: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._timed, fn, args)

    def _timed(self, fn: Callable, args: tuple):
        """``fn(*args)`` in a worker, timed from when it starts there (not from when it was queued,
        which would count the waits before it too)."""
        start = time.monotonic()
        try:
            return fn(*args)
        finally:
            self._job_seconds = 0.8 * self._job_seconds + 0.2 * (time.monotonic() - start)
