"""The work behind each endpoint of ``colorize serve``: read the upload, call the library.

Every method runs in a worker thread of the work queue and calls the same library functions as
the CLI (:func:`colorizer.api.colorize_picture`, :func:`colorizer.api.colorize_scribbles`,
:func:`colorizer.api.confidence_map`, :func:`colorizer.repair.restore_picture`).
"""

from __future__ import annotations

import base64
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from fastapi import UploadFile

from colorizer.errors import ColorizerError
from colorizer.web.cache import CleanedCache
from colorizer.web.config import ServeConfig
from colorizer.web.limits import WebError, _safe_name, read_hints, read_upload, with_upload
from colorizer.web.store import ModelStore


def _png(pic) -> bytes:
    from colorizer.io import encode_png8

    return encode_png8(pic.to_array(np.uint8), workers=2)


def _jsonable(value):
    """Cards as JSON: non-finite floats become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Service:
    """The work behind each endpoint; every method runs in a worker thread of the queue."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.models = ModelStore(cfg.device)
        self.cleaned_cache = CleanedCache()

    # -- reading uploads -------------------------------------------------------------------------

    def with_upload(self, upload: UploadFile, fn: Callable):
        """Copy the upload into a fresh temporary folder, read it, call ``fn(pic, folder, name)``;
        the folder is deleted when ``fn`` returns or fails (:func:`colorizer.web.limits.with_upload`)."""
        return with_upload(upload, fn, self.cfg.max_upload_bytes, self.cfg.max_pixels)

    def read_hints(self, text: str, pic, folder: Path):
        """Hints checked against the photo and read (:func:`colorizer.web.limits.read_hints`)."""
        return read_hints(text, pic, folder)

    # -- the jobs -------------------------------------------------------------------------------

    def cleaned(self, pic, denoise: bool, restore: bool = False):
        """The photo as the request has it coloured: its damage repaired first (:meth:`repaired`)
        when it asks for ``restore``, then its lightness denoised
        (:func:`colorizer.onnx_backend.denoise_any`, as ``colorize denoise``) when it asks for
        ``denoise``; else the photo itself. A photo cleaned a moment ago is taken from
        :class:`CleanedCache` (by its pixels and the steps asked for), not cleaned again."""
        if not (denoise or restore):
            return pic
        digest = CleanedCache.key(pic)
        if restore:
            pic = self.repaired(pic, digest)[0]
        if not denoise:
            return pic
        from colorizer import onnx_backend

        key = f"{digest}/{'repaired+' if restore else ''}denoised"
        if (pixels := self.cleaned_cache.get(key)) is not None:
            return pic.with_pixels(pixels.copy())
        out = onnx_backend.denoise_any(pic, self.models.denoiser())
        self.cleaned_cache.put(key, out.pixels)
        return out

    def repaired(self, pic, digest: str | None = None):
        """(the photo with its scratches, dust and small tears found and filled, the mask (H, W)
        bool of what was filled), by :func:`colorizer.repair.restore_picture` as
        ``colorize image --restore`` repairs. Both are kept in :class:`CleanedCache`, so that
        colouring with another model or showing the mask does not look for the damage again."""
        from colorizer.repair import restore_picture

        digest = digest or CleanedCache.key(pic)
        pixels, mask = (self.cleaned_cache.get(f"{digest}/{step}") for step in ("repaired", "damage"))
        if pixels is not None and mask is not None:
            return pic.with_pixels(pixels.copy()), mask
        restorer, config = self.models.restorer()
        out, mask = restore_picture(pic, restorer, config)
        self.cleaned_cache.put(f"{digest}/repaired", out.pixels)
        self.cleaned_cache.put(f"{digest}/damage", mask)
        return out, mask

    def read_reference(self, upload: UploadFile, folder: Path, net):
        """The reference photo of a request, checked like the photo and described for matching
        (:func:`colorizer.api.prepare_reference`)."""
        from colorizer.api import prepare_reference
        from colorizer.reference import check_reference

        name = _safe_name(upload.filename)
        path = folder / ("reference" + Path(name).suffix.lower()[:8])
        upload.file.seek(0)
        with open(path, "wb") as fh:
            shutil.copyfileobj(upload.file, fh, 2**20)
        ref = read_upload(path, name, self.cfg.max_upload_bytes, self.cfg.max_pixels)
        try:
            check_reference(ref, name)
        except ColorizerError as exc:
            raise WebError(422, str(exc)) from None
        return prepare_reference(ref, None if net.name == "levin" else net)

    def colorize(self, upload: UploadFile, model: str, saturation: float, size: int | None,
                 hints: str | None, denoise: bool = False,
                 reference: UploadFile | None = None, restore: bool = False) -> tuple[bytes, str]:
        from colorizer.api import colorize_picture, colorize_scribbles, colorize_with_reference

        def job(pic, folder, name):
            scribbles = self.read_hints(hints, pic, folder) if hints else None
            net = self.models.get(model)
            if reference is not None:  # with scribbles too: they correct the reference's colours
                ref = self.read_reference(reference, folder, net)
                pic = self.cleaned(pic, denoise, restore)
                out = colorize_with_reference(pic, None if net.name == "levin" else net, ref, size,
                                              saturation, scribbles=scribbles)[0]
                return _png(out), f"{Path(name).stem}_{net.name}_reference.png"
            if net.name == "levin" and scribbles is None:
                raise WebError(422, "model 'levin' needs scribbles: paint some colour on the "
                                    "photo (or send hints), or choose another model")
            pic = self.cleaned(pic, denoise, restore)
            if net.name == "levin":  # spreads the scribbles alone (as `colorize scribble`)
                out = colorize_scribbles(pic, *scribbles, None, size=size, saturation=saturation)
            elif scribbles is not None:
                out = colorize_scribbles(pic, *scribbles, net, size=size, saturation=saturation)
            else:
                out = colorize_picture(pic, net, size, saturation=saturation)
            return _png(out), f"{Path(name).stem}_{net.name}.png"

        return self.with_upload(upload, job)

    def samples(self, upload: UploadFile, model: str, k: int, saturation: float,
                size: int | None, denoise: bool = False, restore: bool = False) -> dict:
        from colorizer.api import colorize_picture, require_sampler

        def job(pic, folder, name):
            net = self.models.get(model)
            require_sampler(net)
            pic = self.cleaned(pic, denoise, restore)  # once, for all k
            pngs = [_png(colorize_picture(pic, net, size, sample=i, saturation=saturation))
                    for i in range(1, k + 1)]
            return {"model": net.name, "width": pic.size[0], "height": pic.size[1],
                    "names": [f"{Path(name).stem}_{net.name}_sample{i}.png" for i in range(1, k + 1)],
                    "samples": [base64.b64encode(p).decode() for p in pngs]}

        return self.with_upload(upload, job)

    def confidence(self, upload: UploadFile, model: str, size: int | None,
                   denoise: bool = False, restore: bool = False) -> tuple[bytes, str]:
        from colorizer.api import confidence_map
        from colorizer.io import Picture

        def job(pic, folder, name):
            net = self.models.get(model)
            conf = confidence_map(self.cleaned(pic, denoise, restore), net, size)  # of the photo coloured
            out = Picture.from_array((np.clip(conf, 0, 1) * 255).astype(np.uint8))
            return _png(out), f"{Path(name).stem}_{net.name}_confidence.png"

        return self.with_upload(upload, job)

    def damage(self, upload: UploadFile) -> tuple[bytes, str, int]:
        """(the mask of what ``restore`` repairs in the photo as a PNG at its size, white where
        repaired, as ``colorize restore --mask`` writes it; its file name; how many pixels are
        white)."""
        from colorizer.io import Picture

        def job(pic, folder, name):
            mask = self.repaired(pic)[1]
            out = Picture.from_array(mask.astype(np.uint8) * 255)
            return _png(out), f"{Path(name).stem}_damage.png", int(np.count_nonzero(mask))

        return self.with_upload(upload, job)

    def model_list(self, load: bool = True) -> list[dict]:
        """Every registered colorizer with what it can do and its card. ``load=False`` answers at
        once and fills in only the models built so far (``loaded``)."""
        from colorizer import registry
        from colorizer.cards import public_card

        try:
            default = registry.resolve_name("default")
        except ColorizerError:
            default = None
        out = []
        for name in registry.list_colorizers():
            entry = {"name": name, "summary": registry.describe(name), "default": name == default,
                     "needs_hints": name == "levin", "loaded": False, "samples": False,
                     "confidence": False, "card": None, "error": None}
            try:
                net = self.models.get(name) if load else self.models.peek(name)
            except ColorizerError as exc:  # e.g. a trainable model without shipped weights
                entry["error"] = str(exc)
                net = None
            if net is not None:
                entry.update(loaded=True, samples=hasattr(net, "sample_ab"),
                             confidence=hasattr(net, "predict_confidence"),
                             card=_jsonable(public_card(name, net.card)) or None)
            out.append(entry)
        return out
