"""The models of ``colorize serve``: each colorizer, and the denoiser, built once and shared."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("colorizer.web")


class ModelStore:
    """Colorizers by name, and the denoiser, each built once (on first use) and shared by every
    request."""

    def __init__(self, device: str):
        self.device = device
        self._models: dict = {}
        self._denoisers: dict = {}  # apart: a denoiser is never handed out as a colorizer
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, name: str):
        """The model, built now if it is the first request for it (one lock per name, so a slow
        load does not hold up requests for other models)."""
        from colorizer.registry import get_colorizer, resolve_name

        name = resolve_name(name)  # unknown name: ColorizerError listing the valid ones
        return self._once("colorizer", name, lambda: get_colorizer(name, device=self.device))

    def denoiser(self, name: str = "denoise"):
        """The denoiser, built on the first request that asks for denoising, as `colorize denoise`
        loads it (:func:`colorizer.onnx_backend.load_denoiser`: the onnxruntime export on the CPU
        when it is fresh, else torch), so the page cleans a photo exactly as the CLI does."""
        from colorizer import onnx_backend

        return self._once("denoiser", name, lambda: onnx_backend.load_denoiser(
            "auto", name, device=self.device, warn=log.warning))

    def _once(self, kind: str, name: str, build: Callable):
        store = self._denoisers if kind == "denoiser" else self._models
        with self._lock:
            lock = self._locks.setdefault((kind, name), threading.Lock())
        with lock:
            if name not in store:
                store[name] = build()
            return store[name]

    def peek(self, name: str):
        """The model if it has been built, else None."""
        return self._models.get(name)

    @property
    def loaded(self) -> list[str]:
        return sorted(self._models)
