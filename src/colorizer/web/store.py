"""The models of ``colorize serve``: each colorizer, the denoiser and the damage detector, built
once and shared."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("colorizer.web")


class ModelStore:
    """Colorizers by name, the denoiser and the damage detector, each built once (on first use) and
    shared by every request."""

    def __init__(self, device: str):
        self.device = device
        self._models: dict = {}
        self._tools: dict = {}  # the denoiser and the restorer, apart: never handed out as colorizers
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

    def restorer(self):
        """(the damage detector, its decision thresholds), built on the first request that asks
        for a repair, as `colorize image --restore` builds them (:class:`colorizer.repair.Restorer`
        with the shipped weights, :func:`colorizer.repair.default_config`)."""
        from colorizer.repair import Restorer, default_config

        return self._once("restorer", "restore", lambda: (Restorer(), default_config()))

    def _once(self, kind: str, name: str, build: Callable):
        store = self._models if kind == "colorizer" else self._tools
        key = name if kind == "colorizer" else (kind, name)
        with self._lock:
            lock = self._locks.setdefault((kind, name), threading.Lock())
        with lock:
            if key not in store:
                store[key] = build()
            return store[key]

    def peek(self, name: str):
        """The model if it has been built, else None."""
        return self._models.get(name)

    @property
    def loaded(self) -> list[str]:
        return sorted(self._models)
