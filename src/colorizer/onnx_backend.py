"""The onnxruntime backend: an exported colorizer run without torch, for a fast start.

``import torch`` alone takes 1.1-1.6 s, far longer than the model on one photo (about 0.05 s at
256x256). A model exported by ``colorize export`` (:mod:`colorizer.export`) runs here in
onnxruntime, and this module, like everything on its image path (:mod:`colorizer.io`,
:mod:`colorizer.color` for 8-bit photos, :mod:`colorizer.resize`, :mod:`colorizer.batch`),
imports no torch. The path takes the same five hops as :func:`colorizer.api.colorize_picture`:
full-resolution L -> working-size L -> model -> ab upsampled -> joined with the full L.

An exported file holds ``predict_ab`` times the model's calibrated chroma gain (the ab that
:func:`colorizer.api.predict_working_ab` gives at ``saturation=1``), and in its metadata
(``colorizer.*`` keys) the model's name, the gain, the side multiple, the preferred working size,
the model card, and the SHA-256 of the weights it was exported from. Where it finds the weights
the file was made from, :func:`load` checks that they are still the same, so an ONNX file never
runs a stale copy of a model.

A denoiser (``colorize denoise``) exports the same way: its graph maps L to the denoised L
(metadata ``colorizer.kind`` "denoiser"), and :class:`OnnxDenoiser` pads and crops around it.

The default model and the denoiser ship as ``assets/NAME.onnx``. ``colorize image`` and
``colorize denoise`` with ``--backend auto`` (the default) use onnxruntime whenever such a file
exists for the model and the job needs nothing that only torch does (:func:`choose_backend`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from colorizer.errors import ColorizerError
from colorizer.io import Picture
from colorizer.ort import file_sha256  # noqa: F401  (part of this module's interface)
from colorizer.ort import session as _session
from colorizer.resize import (
    DEFAULT_PASSES,
    DEFAULT_SIZE,
    denoise_passes,
    downscale_l,
    np_pad_mode,
    upsample_ab,
    working_shape,
)

#: Prefix of the metadata keys :mod:`colorizer.export` writes.
META = "colorizer."

#: Backends of ``colorize image --backend``.
BACKENDS = ("auto", "onnx", "torch")

#: ``--precision``: the float export, its int8 twin (``NAME.int8.onnx``, :mod:`colorizer.quantize`),
#: or auto: int8 where that file exists, stands for the same weights, and onnxruntime runs on the CPU.
PRECISIONS = ("auto", "float", "int8")


def packaged_onnx(name: str) -> Path:
    """Where the package ships the ONNX export of model ``name`` (it may not exist)."""
    return Path(str(resources.files("colorizer") / "assets" / f"{name}.onnx"))


def int8_path(onnx_file: str | os.PathLike) -> Path:
    """Where the int8 twin of an ONNX export lives: ``NAME.int8.onnx`` beside ``NAME.onnx``."""
    onnx_file = Path(onnx_file)
    return onnx_file.with_name(onnx_file.name[: -len(onnx_file.suffix)] + ".int8.onnx")


def resolve_default(name: str) -> str:
    """``default`` -> the default model's name, read without importing torch."""
    if name != "default":
        return name
    from colorizer import DEFAULT_MODEL

    return DEFAULT_MODEL or name


def source_files(name: str, weights: str | os.PathLike | None) -> tuple[Path | None, Path | None]:
    """(ONNX file, safetensors it should match) for a job: ``weights`` may be an ``.onnx`` file
    (used as it is), a ``.safetensors`` file (its ``.onnx`` twin beside it), or None (the
    packaged files of ``name``). Either path is None where there is none to use."""
    if weights is not None:
        weights = Path(weights)
        if weights.suffix.lower() == ".onnx":
            return weights, None
        twin = weights.with_suffix(".onnx")
        return (twin if twin.is_file() else None), weights
    onnx_file = packaged_onnx(resolve_default(name))
    safetensors = onnx_file.with_suffix(".safetensors")
    return (onnx_file if onnx_file.is_file() else None), (safetensors if safetensors.is_file() else None)


@dataclass
class _OnnxModel:
    """What every file written by ``colorize export`` has: a name, a session, a side multiple."""

    name: str
    session: object  # onnxruntime.InferenceSession
    path: Path
    multiple: int = 1
    static_shape: tuple[int, int] | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def card(self) -> dict:
        """The model card stored in the file."""
        return json.loads(self.metadata.get(META + "card", "{}"))

    @property
    def precision(self) -> str:
        """"float", or "int8" for a file written by :mod:`colorizer.quantize`."""
        return self.metadata.get(META + "precision", "float")

    def _run(self, L: np.ndarray) -> np.ndarray:
        L = np.ascontiguousarray(L, np.float32)
        if L.ndim != 4 or L.shape[1] != 1:
            raise ValueError(f"L must have shape (N, 1, H, W), got {L.shape}")
        h, w = L.shape[-2:]
        if self.static_shape is not None and (h, w) != self.static_shape:
            raise ValueError(f"{self.path.name} takes {self.static_shape[0]}x{self.static_shape[1]} "
                             f"only (exported without --dynamic), got {h}x{w}")
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"{self.path.name}: height and width must be multiples of "
                             f"{self.multiple}, got {h}x{w}")
        return self.session.run(None, {self.session.get_inputs()[0].name: L})[0]


@dataclass
class OnnxColorizer(_OnnxModel):
    """A colorizer exported to ONNX, run by onnxruntime.

    :meth:`predict_ab` takes L (N, 1, h, w) float32 in Lab units and returns ab (N, 2, h, w) in
    Lab units, with the calibrated ``chroma_gain`` already applied (it is part of the graph).
    """

    preferred_size: int = DEFAULT_SIZE
    chroma_gain: float = 1.0

    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        return self._run(L)


@dataclass
class OnnxDenoiser(_OnnxModel):
    """A denoiser (``colorize denoise``) exported to ONNX, run by onnxruntime.

    The graph maps L (N, 1, H, W) with H and W multiples of :attr:`multiple` to the denoised L;
    :meth:`denoise_l` pads any photo to that multiple as the torch model does, crops, and applies
    the strength, so that both backends give the same picture.
    """

    def denoise_l(self, L: np.ndarray, strength: float = 1.0, passes: int = DEFAULT_PASSES) -> np.ndarray:
        """Full-resolution L (H, W) -> denoised L (H, W) float32 in [0, 100]; ``strength`` scales
        the noise removed (0: none, 1: as trained); ``passes``: shifted copies averaged
        (:func:`colorizer.resize.denoise_passes`)."""
        return denoise_passes(L, self._denoise_once, strength, passes)

    def _denoise_once(self, L: np.ndarray) -> np.ndarray:
        h, w = L.shape
        ph, pw = -h % self.multiple, -w % self.multiple
        x = L
        if ph or pw:
            x = np.pad(L, ((0, ph), (0, pw)), mode=np_pad_mode(h, w, ph, pw))
        return self._run(x[None, None])[0, 0, :h, :w]


def load(path: str | os.PathLike, *, source: str | os.PathLike | None = None,
         device: str = "cpu", threads: int | None = None) -> OnnxColorizer | OnnxDenoiser:
    """Open an ONNX file written by ``colorize export``: an :class:`OnnxColorizer`, or an
    :class:`OnnxDenoiser` for a denoiser's export.

    ``source``, the safetensors file the export should stand for, is checked against the SHA-256
    in the metadata (and the chroma gain and config against its card), so that a model that
    was retrained or recalibrated after its export is never run from the stale ONNX copy.
    ``threads``: onnxruntime's threads per run (default: all cores).

    Raises
    ------
    ColorizerError
        For a missing or unreadable file, one without colorizer metadata, or a stale one.
    """
    path = Path(path)
    if not path.is_file():
        raise ColorizerError(f"{path}: ONNX file not found")
    session = _session(path, device, threads)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if META + "model" not in meta:
        raise ColorizerError(f"{path}: not exported by `colorize export` (no colorizer metadata); "
                             "export the model with `colorize export`")
    if source is not None:
        stale = stale_reason(meta, Path(source))
        if stale:
            raise ColorizerError(f"{path}: {stale}; export it again with `colorize export --model "
                                 f"{meta[META + 'model']} --weights {source} --dynamic --out {path}`")
    if len(session.get_inputs()) != 1:
        raise ColorizerError(f"{path}: the graph takes {len(session.get_inputs())} inputs, not one "
                             "(L); a model whose output ignores L exports with --dynamic only")
    shape = session.get_inputs()[0].shape
    static = tuple(shape[2:]) if all(isinstance(d, int) for d in shape[2:]) else None
    common = dict(name=meta[META + "model"], session=session, path=path,
                  multiple=int(meta.get(META + "multiple", 1)), static_shape=static, metadata=meta)
    if meta.get(META + "kind") == "denoiser":
        return OnnxDenoiser(**common)
    return OnnxColorizer(preferred_size=int(meta.get(META + "preferred_size", DEFAULT_SIZE)),
                         chroma_gain=float(meta.get(META + "chroma_gain", 1.0)), **common)


def stale_reason(meta: dict, source: Path) -> str | None:
    """Why an export's metadata does not match the safetensors ``source`` (and its card), or None."""
    if not source.is_file():
        return f"the weights it was exported from are missing ({source})"
    if meta.get(META + "weights_sha256") != file_sha256(source):
        return f"it was exported from other weights than {source.name}"
    card_file = source.with_suffix(".json")
    card = json.loads(card_file.read_text()) if card_file.is_file() else {}
    exported = json.loads(meta.get(META + "card", "{}"))
    for key in ("chroma_gain", "config", "architecture"):
        if card.get(key) != exported.get(key):
            return f"its card's {key} differs from {card_file.name}'s"
    return None


def choose_backend(backend: str, model: str, weights: str | os.PathLike | None = None, *,
                   device: str = "auto", torch_only: str | None = None) -> tuple[str, Path | None,
                                                                                  Path | None]:
    """Which backend runs a job: ("onnx" or "torch", ONNX file, safetensors to check it against).

    ``backend="auto"`` takes onnxruntime when an ONNX file exists for the model (packaged, given
    as ``weights``, or beside the given safetensors), the device is the CPU (``auto`` or
    ``cpu``), and nothing in the job needs torch: ``torch_only`` names such an option
    (``"--samples"``, ...). ``backend="onnx"`` insists, with an error saying what is missing.
    """
    if backend not in BACKENDS:
        raise ColorizerError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    onnx_file, source = source_files(model, weights)
    given_onnx = weights is not None and Path(weights).suffix.lower() == ".onnx"
    if backend == "torch":
        if given_onnx:
            raise ColorizerError(f"{weights}: an ONNX file runs with --backend onnx (or auto), "
                                 "not torch; pass the .safetensors file to --weights for torch")
        return "torch", None, None
    if backend == "onnx" or given_onnx:
        if torch_only:
            raise ColorizerError(f"{torch_only} needs the torch backend; use --backend torch")
        if onnx_file is None:
            where = f"beside {weights}" if weights is not None else "in this install"
            raise ColorizerError(
                f"no ONNX file for model {model!r} {where}; make one with `colorize export --model "
                f"{model}{f' --weights {weights}' if weights else ''} --dynamic --out FILE.onnx` "
                "and pass --weights FILE.onnx, or use --backend torch")
        return "onnx", onnx_file, source
    if onnx_file is None or torch_only or device == "cuda":
        return "torch", None, None
    return "onnx", onnx_file, source


def load_for_job(backend: str, model: str, weights: str | os.PathLike | None = None, *,
                 device: str = "auto", torch_only: str | None = None,
                 warn=None, threads: int | None = None,
                 kind: str = "colorizer", precision: str = "auto") -> OnnxColorizer | OnnxDenoiser | None:
    """The ONNX model for a job, or None when it runs on torch (:func:`choose_backend`).

    With ``backend="auto"`` an export that is stale or unreadable gives a ``warn`` line and None
    (torch runs instead); with ``backend="onnx"`` it is an error. ``threads`` as in :func:`load`.
    ``kind``: "colorizer" or "denoiser", what the job needs; a file that holds the other is an
    error. ``precision`` (:data:`PRECISIONS`, colorizers only): "int8" runs the export's int8
    twin (:func:`int8_path`) and is an error where there is none that stands for the same
    weights, or where the job runs on torch; "auto" takes the twin where it is there, matches
    the weights' SHA-256 (else one ``warn`` line) and the device is the CPU; "float" never.
    """
    if precision not in PRECISIONS:
        raise ColorizerError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8" and (backend == "torch" or torch_only or device == "cuda"):
        why = torch_only or ("--device cuda" if device == "cuda" else "--backend torch")
        raise ColorizerError(f"--precision int8 runs in onnxruntime on the CPU, which {why} rules out; "
                             "use --precision float")
    chosen, onnx_file, source = choose_backend(backend, model, weights, device=device,
                                             torch_only=torch_only)
    if chosen == "torch":
        if precision == "int8":
            raise ColorizerError(f"--precision int8: no ONNX export of model {model!r} to run; use "
                                 "--precision float")
        return None
    net = None
    if (kind == "colorizer" and precision != "float" and device != "cuda" and source is not None
            and int8_path(onnx_file).is_file()):
        # the int8 twin checked straight against the weights: no float session is built only to
        # be thrown away (about 0.1 s of start-up); any doubt falls back to the full checks below
        net = _int8_for_weights(onnx_file, source, threads)
    if net is None:
        try:
            net = load(onnx_file, source=source, device="cuda" if device == "cuda" else "cpu",
                       threads=threads)
        except ColorizerError as exc:
            if backend == "onnx" or (weights is not None and Path(weights).suffix.lower() == ".onnx"):
                raise
            if precision == "int8":
                raise
            if warn is not None:
                warn(f"{exc}; using torch")
            return None
    held = "denoiser" if isinstance(net, OnnxDenoiser) else "colorizer"
    if held != kind:
        raise ColorizerError(f"{onnx_file}: holds the {held} {net.name!r}, not a {kind}")
    wanted = resolve_default(model)
    if model != "default" and net.name != wanted:
        raise ColorizerError(f"{onnx_file}: holds model {net.name!r}, not {wanted!r}; drop --model "
                             "or pass the matching file")
    if kind == "colorizer" and precision != "float" and device != "cuda" and net.precision == "float":
        quantized = _int8_twin(net, source, threads, strict=precision == "int8")
        if isinstance(quantized, str):
            if precision == "int8":
                raise ColorizerError(quantized)
            if warn is not None and int8_path(onnx_file).exists():
                warn(f"{quantized}; using the float model")
        else:
            net = quantized
    elif precision == "int8" and net.precision != "int8":
        raise ColorizerError(f"{onnx_file}: --precision int8 takes a colorizer's float export "
                             "with its int8 twin beside it")
    return net


def _int8_for_weights(onnx_file: Path, source: Path, threads: int | None) -> OnnxColorizer | None:
    """The int8 twin of ``onnx_file`` if it stands for the weights ``source`` (SHA-256, card),
    else None."""
    try:
        quantized = load(int8_path(onnx_file), source=source, threads=threads)
    except ColorizerError:
        return None
    if isinstance(quantized, OnnxColorizer) and quantized.precision == "int8":
        return quantized
    return None


def _int8_twin(net: OnnxColorizer, source: Path | None, threads: int | None,
               strict: bool) -> OnnxColorizer | str:
    """The int8 twin of the float export ``net``, checked against the weights it stands for
    (``source``, else the float export's own record of them); or why it cannot be used."""
    path = int8_path(net.path)
    if not path.is_file():
        return (f"{path}: no int8 version of {net.path.name}; make it with `python "
                f"scripts/quantize_model.py --onnx {net.path}`")
    if source is None and not strict:  # auto checks the twin against the safetensors only
        return f"{path}: no weights file to check it against"
    again = "; make it again with `python scripts/quantize_model.py`"
    try:
        quantized = load(path, threads=threads)
    except ColorizerError as exc:
        return f"{exc}{again}"
    stale = stale_reason(quantized.metadata, source) if source is not None else None
    if stale:
        return f"{path}: {stale}{again}"
    if quantized.precision != "int8" or not isinstance(quantized, OnnxColorizer):
        return f"{path}: not an int8 colorizer"
    sha = META + "weights_sha256"
    if quantized.metadata.get(sha) != net.metadata.get(sha) or quantized.name != net.name:
        return f"{path}: made from other weights than {net.path.name}{again}"
    return quantized


def colorize_picture(pic: Picture, model: OnnxColorizer, size: int | None = None,
                     saturation: float = 1.0, denoiser: OnnxDenoiser | None = None) -> Picture:
    """Colorize a :class:`~colorizer.io.Picture` at full resolution with an ONNX model.

    The counterpart of :func:`colorizer.api.colorize_picture` (same hops, same resizes), without
    torch: full-res L -> working-size L -> model -> ab upsampled -> joined with the full L.
    A model exported without ``--dynamic`` sees L resized to its fixed shape. With a ``denoiser``,
    L is denoised first, and the output keeps the denoised L.
    """
    L = pic.lightness() if denoiser is None else denoiser.denoise_l(pic.lightness())
    height, width = L.shape
    shape = model.static_shape or working_shape(height, width, size or model.preferred_size,
                                                model.multiple)
    ab = model.predict_ab(downscale_l(L, shape)[None, None])[0]
    if saturation != 1.0:
        ab = ab * np.float32(saturation)
    from colorizer.color import l_ab_to_srgb

    return pic.with_pixels(l_ab_to_srgb(L, upsample_ab(ab, height, width), pic.pixels.dtype))


def denoise_picture(pic: Picture, model: OnnxDenoiser, strength: float = 1.0,
                    passes: int = DEFAULT_PASSES) -> Picture:
    """:func:`colorizer.api.denoise_picture` without torch: the lightness denoised at full
    resolution, the colour kept (a grey picture stays exactly grey)."""
    return pic.with_lightness(model.denoise_l(pic.lightness(), strength, passes))


def load_denoiser(backend: str, model: str = "denoise", weights: str | os.PathLike | None = None, *,
                  device: str = "auto", warn=None):
    """The denoiser a job runs: the export where :func:`load_for_job` takes onnxruntime, else
    the torch model (:func:`colorizer.registry.get_denoiser`; torch is imported only then).
    ``colorize denoise`` and the web page both load theirs here, so both clean a photo alike."""
    fast = load_for_job(backend, model, weights, device=device, kind="denoiser", warn=warn)
    if fast is not None:
        return fast
    from colorizer.registry import get_denoiser

    return get_denoiser(model, weights=str(weights) if weights else None, device=device)


def denoise_any(pic: Picture, model, strength: float = 1.0, passes: int = DEFAULT_PASSES) -> Picture:
    """:func:`denoise_picture` for a denoiser of either backend (:func:`load_denoiser`)."""
    if isinstance(model, OnnxDenoiser):
        return denoise_picture(pic, model, strength, passes)
    from colorizer.api import denoise_picture as torch_denoise_picture

    return torch_denoise_picture(pic, model, strength, passes)
