"""The cleaned-photo cache of ``colorize serve``: repaired and denoised pixels of the last few
photos, and the damage masks found in them."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np


class CleanedCache:
    """The cleaned pixels of the last few photos, by their pixels' SHA-256 and what was done to
    them (:meth:`key`), so that the page cleans a photo once: with "Repair scratches" or "Clean up
    grain" on, it sends the same photo again for each model it tries, for the confidence map and
    for the damage mask. Bounded by bytes (the oldest go first); a lock keeps the worker threads
    apart. Hashing a 12 MP photo took 20 ms here, against seconds to denoise it."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(pic) -> str:
        """The SHA-256 of the photo's pixels; the service adds what was done to them
        (``DIGEST/repaired+denoised``, ``DIGEST/damage`` for the mask)."""
        px = np.ascontiguousarray(pic.pixels)
        h = hashlib.sha256(f"{px.shape}{px.dtype.str}".encode())
        h.update(memoryview(px).cast("B"))
        return h.hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        """The pixels (or mask) stored under ``key``, or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: str, pixels: np.ndarray) -> None:
        """Keep ``pixels`` under ``key``; too large a photo is not kept."""
        if pixels.nbytes > self.max_bytes:
            return
        pixels = pixels.copy()  # its own copy, read-only: what a request does to its photo stays there
        pixels.setflags(write=False)
        with self._lock:
            self._items[key] = pixels
            self._items.move_to_end(key)
            while sum(v.nbytes for v in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)
