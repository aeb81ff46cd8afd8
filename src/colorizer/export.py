"""Export a colorizer to ONNX (``colorize export``), checked and compared against torch.

The exported graph is the model's ``predict_ab`` times its calibrated chroma gain, which is what
:func:`colorizer.api.predict_working_ab` returns at ``saturation=1``:

* input ``L``: (N, 1, H, W) float32, CIELAB lightness in 0-100, at the working size (H and W
  multiples of the model's ``multiple``; :func:`colorizer.resize.working_shape`);
* output ``ab``: (N, 2, H, W) float32 in Lab units.

With ``dynamic`` N, H and W are free; without, the file takes one 1 x 1 x S x S shape. The
metadata (``colorizer.*`` keys, read by :mod:`colorizer.onnx_backend`) holds the model's name,
the chroma gain, the side multiple, the preferred working size, the model card (JSON) and the
SHA-256 of the weights file. Every export is checked with ``onnx.checker`` and run in
onnxruntime against torch on the bundled sample photo (and a second shape and batch size when
dynamic); it is written only when the largest difference is within ``tolerance`` ab units.

A denoiser (``colorize denoise``; :func:`is_denoiser`) exports its ``clean`` instead: L (N, 1, H, W),
H and W multiples of its ``multiple``, to the denoised L (output ``L_denoised``), with
``colorizer.kind`` "denoiser" in the metadata; the comparison is then in L units.

The exporter is torch's TorchScript-based one (``dynamo=False``): it needs no extra package and
traces this model family in seconds, where the torch.export-based one took minutes here.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from colorizer import __version__
from colorizer.errors import ColorizerError
from colorizer.io import read_image, write_model_file
from colorizer.models.mobilenet import SameConv2d
from colorizer.onnx_backend import META, file_sha256, load, packaged_onnx
from colorizer.registry import Colorizer, get_colorizer, get_denoiser, list_denoisers
from colorizer.resize import DEFAULT_SIZE, downscale_l, working_shape
from colorizer.weights import packaged_weights

#: Largest |ab| difference, in Lab units, allowed between onnxruntime and torch.
TOLERANCE = 1e-3

#: The ONNX opset written by default (onnxruntime 1.14 and later run it).
DEFAULT_OPSET = 17


class _PredictAB(torch.nn.Module):
    """``predict_ab`` times the chroma gain, as a module the exporter can trace."""

    def __init__(self, model: Colorizer):
        super().__init__()
        self.model = model
        self.gain = float(model.chroma_gain)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        ab = self.model.predict_ab(L).float()
        return ab * self.gain if self.gain != 1.0 else ab


class _DenoiseL(torch.nn.Module):
    """A denoiser's ``clean``: L (N, 1, H, W), H and W multiples of its ``multiple``, -> denoised L."""

    def __init__(self, model: Colorizer):
        super().__init__()
        self.model = model

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.model.clean(L).float()


def is_denoiser(model: Colorizer) -> bool:
    """Whether ``model`` cleans L (``colorize denoise``) rather than colouring it."""
    return hasattr(model, "clean") and hasattr(model, "denoise_l")


def _graph(model: Colorizer) -> torch.nn.Module:
    """The module whose trace is the exported graph."""
    return (_DenoiseL(model) if is_denoiser(model) else _PredictAB(model)).eval()


def _sample_l(shape: tuple[int, int], noisy: bool = False) -> np.ndarray:
    """The bundled sample photo's L at ``shape``, (1, 1, h, w) float32: a real photo to compare on
    (with seeded Gaussian noise of 10 L units, for a denoiser to remove)."""
    from importlib import resources

    pic = read_image(Path(str(resources.files("colorizer") / "assets" / "sample_grey.jpg")))
    L = downscale_l(pic.lightness(), shape)[None, None]
    if noisy:
        L = np.clip(L + np.random.default_rng(0).normal(0, 10, L.shape), 0, 100).astype(np.float32)
    return L


def compare(model: Colorizer, onnx_file: str | os.PathLike, inputs: list[np.ndarray]) -> float:
    """Largest difference (Lab units) between onnxruntime on ``onnx_file`` and torch over the
    given L arrays (N, 1, H, W): in ab (``predict_ab`` times the chroma gain) for a colorizer, in
    the denoised L for a denoiser."""
    net = load(onnx_file)
    wrapped = _graph(model)
    worst = 0.0
    with torch.inference_mode():
        for L in inputs:
            want = wrapped(torch.from_numpy(L).to(model.device)).cpu().numpy()
            got = net._run(L)
            if got.shape != want.shape:
                raise ColorizerError(f"ONNX output has shape {got.shape}, torch {want.shape}")
            worst = max(worst, float(np.abs(got - want).max()))
    return worst


def _metadata(model: Colorizer, weights: Path | None) -> dict[str, str]:
    """The ``colorizer.*`` metadata; a colorizer's and a denoiser's differ in what their graph
    gives (and a denoiser has no chroma gain or working size), in the same key order."""
    if is_denoiser(model):
        kind = {META + "kind": "denoiser"}
        sizes = {META + "multiple": str(int(model.multiple))}
        io = {META + "input": "L: float32 (N, 1, H, W), CIELAB L in 0-100, H and W multiples of "
                              "colorizer.multiple (pad the photo, e.g. mirrored, and crop after)",
              META + "output": "L: float32 (N, 1, H, W), the denoised L (not clipped to 0-100)"}
    else:
        kind = {META + "chroma_gain": repr(float(model.chroma_gain)),
                META + "chroma_gain_in_graph": "true"}
        sizes = {META + "multiple": str(int(model.multiple)),
                 META + "preferred_size": str(int(getattr(model, "preferred_size", DEFAULT_SIZE)))}
        io = {META + "input": "L: float32 (N, 1, H, W), CIELAB L in 0-100 at the working size",
              META + "output": "ab: float32 (N, 2, H, W), CIELAB a and b, times the chroma gain"}
    return {
        META + "model": model.name, **kind, **sizes,
        META + "card": json.dumps(model.card, sort_keys=True),
        META + "weights_sha256": file_sha256(weights) if weights is not None else "",
        META + "weights_file": weights.name if weights is not None else "",
        META + "version": __version__, **io,
    }


def export_onnx(model: Colorizer, out: str | os.PathLike, *, weights: str | os.PathLike | None = None,
                opset: int = DEFAULT_OPSET, dynamic: bool = False, size: int | None = None,
                overwrite: bool = False, tolerance: float = TOLERANCE) -> dict:
    """Export ``model`` (in eval mode, on the CPU) to the ONNX file ``out``, atomically.

    Parameters
    ----------
    model : Colorizer
        A ready model without hints (``uses_hints`` False).
    out : path
        The ``.onnx`` file to write.
    weights : path, optional
        The safetensors file the model was loaded from; its SHA-256 goes into the metadata so
        that :func:`colorizer.onnx_backend.load` can tell a stale export.
    opset : int
        ONNX opset version.
    dynamic : bool
        Free batch size, height and width; otherwise fixed at 1 x 1 x S x S.
    size : int, optional
        S for a fixed-shape export (default: the model's preferred size), rounded to the model's
        multiple.
    overwrite : bool
        Replace an existing ``out``.
    tolerance : float
        Largest |ab| difference from torch, in Lab units, for the export to be written.

    Returns
    -------
    dict
        ``out``, ``bytes``, ``max_abs_diff`` (Lab units), ``shapes`` compared, ``opset``, ``dynamic``.
    """
    try:
        import onnx
    except ImportError:
        raise ColorizerError("colorize export needs the onnx package: pip install 'colorizer[export]'") \
            from None
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ColorizerError(f"{out}: the output of colorize export ends in .onnx")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists, not overwritten (use --overwrite)")
    if model.uses_hints:
        raise ColorizerError(f"model {model.name!r} takes colour hints, which the exported graph "
                             "cannot; export a model without hints")
    model = copy.deepcopy(model).to("cpu").eval()
    if model.multiple % 32 == 0:  # every stride-2 layer of a MobileNetV2 sees an even size
        for module in model.modules():
            if isinstance(module, SameConv2d):
                module.divisible_input = True
    denoiser = is_denoiser(model)
    preferred = getattr(model, "preferred_size", DEFAULT_SIZE)
    square = working_shape(size or preferred, size or preferred, size or preferred, model.multiple)
    example = torch.from_numpy(_sample_l(square, noisy=denoiser))
    checks = [example.numpy()]
    if dynamic:  # another aspect ratio and a batch of two
        other = working_shape(3, 4, preferred, model.multiple)
        pair = _sample_l(other, noisy=denoiser)
        checks.append(np.concatenate([pair, pair[..., ::-1].copy()]))
    output = "L_denoised" if denoiser else "ab"
    axes = {"L": {0: "N", 2: "H", 3: "W"}, output: {0: "N", 2: "H", 3: "W"}} if dynamic else None
    measured = {}

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            # the TorchScript exporter is chosen on purpose (see the module docstring), and its
            # trace notes about Python-level shape arithmetic concern shapes we do not vary
            warnings.simplefilter("ignore")
            torch.onnx.export(_graph(model), (example,), str(tmp), dynamo=False,
                              input_names=["L"], output_names=[output], dynamic_axes=axes,
                              opset_version=opset, do_constant_folding=True)
        proto = onnx.load(str(tmp))
        for node in proto.graph.node:  # trailing empty optional inputs (Pad's constant_value)
            while node.input and node.input[-1] == "":  # keep onnxruntime from fusing Pad
                node.input.pop()
        proto.producer_name = "colorizer"
        proto.producer_version = __version__
        proto.doc_string = (f"colorizer denoiser {model.name!r}: CIELAB L (N, 1, H, W) in, denoised "
                            "L out; see metadata colorizer.*" if denoiser else
                            f"colorizer model {model.name!r}: CIELAB L (N, 1, H, W) in, ab "
                            "(N, 2, H, W) out, chroma gain applied; see metadata colorizer.*")
        for key, value in _metadata(model, Path(weights) if weights else None).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ColorizerError(f"the exported graph fails onnx.checker: {str(exc).splitlines()[0]}") \
                from None
        try:
            diff = measured["diff"] = compare(model, tmp, checks)
        except ColorizerError as exc:  # name the file the user asked for, not the temporary one
            raise ColorizerError(str(exc).replace(str(tmp), str(out))) from None
        if not diff <= tolerance:
            raise ColorizerError(f"the ONNX export differs from torch by {diff:.2g} "
                                 f"{'L' if denoiser else 'ab'} units "
                                 f"(more than {tolerance:g}); not written")

    write_model_file(out, write, overwrite)
    return {"out": out, "bytes": out.stat().st_size, "max_abs_diff": measured["diff"], "opset": opset,
            "dynamic": dynamic, "shapes": [tuple(c.shape) for c in checks]}


def export_model(name: str, out: str | os.PathLike, *, weights: str | os.PathLike | None = None,
                 **kwargs) -> dict:
    """Build registered model ``name`` (a colorizer or a denoiser; its shipped or the given
    weights) and :func:`export_onnx` it."""
    build = get_denoiser if name in list_denoisers() else get_colorizer
    model = build(name, weights=str(weights) if weights else None, device="cpu")
    if weights is None and packaged_weights(model.name).is_file():
        weights = packaged_weights(model.name)
    return export_onnx(model, out, weights=weights, **kwargs)


def export_packaged(name: str) -> dict:
    """(Re)write ``assets/NAME.onnx`` from the shipped weights: dynamic shapes, default opset.

    This is how the package's ONNX file is made (``scripts/ship_model.py`` calls it, and
    ``colorize export --model gan --dynamic --out src/colorizer/assets/gan.onnx --overwrite`` does
    the same); tests/test_onnx.py checks that it still matches the shipped safetensors.
    """
    return export_model(name, packaged_onnx(name), dynamic=True, overwrite=True)

