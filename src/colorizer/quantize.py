"""An int8 copy of an exported colorizer, for onnxruntime on the CPU (``--precision int8``).

:func:`quantize_onnx` takes a float export written by ``colorize export`` (:mod:`colorizer.export`)
and writes its int8 twin ``NAME.int8.onnx`` beside it with onnxruntime's static quantization:

* the float graph is first simplified by onnxruntime's basic graph optimisation (constant
  folding: the padding arithmetic of the TorchScript export becomes constants), so that the
  quantizer sees plain Conv/Clip/Resize/Concat nodes;
* weights are int8 per output channel, activations uint8 with ranges from the smallest and
  largest values seen (MinMax) on the L of *training* photos (:func:`calibration_l`), never on
  the evaluation photos;
* the first and the last convolution stay in float: the first sees the grey picture itself and
  the last gives ab, where a rounding step is a visible colour step;
* then each int8 convolution's bias is corrected, in graph order, by the mean per-channel
  difference between its int8 output and the float model's on calibration photos, the earlier
  corrections already in place (empirical bias correction, Nagel et al. 2019, "Data-Free
  Quantization"; onnxruntime has none). Rounding in a chain of int8 layers shifts some channels
  systematically, and the shifts add up: without the correction the int8 model lost 0.74 AuC
  to the float one on average over the frames of six clips and 2.33 on a clip of dark water;
  with it 0.03 and 0.13 (``benchmarks/bench_precision.py --clips``), with every encoder block in
  int8. Before, the first thirteen encoder blocks had to stay in float (0.15 and 0.34), which made
  the model slower;
* the QDQ format (QuantizeLinear/DequantizeLinear pairs around float ops), which onnxruntime
  fuses into int8 kernels when the session's optimisation level is the default (all).

The int8 file carries the float export's ``colorizer.*`` metadata, the SHA-256 of the weights
included, plus ``colorizer.precision`` = ``int8`` and how it was calibrated, so that
:func:`colorizer.onnx_backend.load_for_job` uses it only while it stands for the same weights.
Before it is written, its ab is compared with the float export's on calibration photos.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorizer.errors import ColorizerError
from colorizer.io import write_model_file
from colorizer.onnx_backend import META, int8_path, load

#: Mean |ab| difference (Lab units) from the float export above which the int8 file is not written.
TOLERANCE = 4.0


@dataclass
class QuantizeConfig:
    """How :func:`quantize_onnx` calibrates: ``photos`` training photos at ``size`` x ``size``
    (centre crop), taken evenly spread over ``sources`` (prepared datasets with l.npy, whose
    training split is used, or photo folders)."""

    sources: list[str] = field(default_factory=list)
    photos: int = 256
    size: int = 256
    float_ends: bool = True  # the first and the last convolution stay in float
    #: the convolutions of the encoder's first blocks that stay in float too (none: with the bias
    #: correction every block may be int8; benchmarks/bench_precision.py --data on validation
    #: photos, --clips on video frames)
    float_blocks: int = 0
    #: calibration photos (spread evenly over the ``photos``) whose mean per-channel error each
    #: int8 convolution's bias is corrected by; 0 turns the correction off
    bias_photos: int = 64


def calibration_l(sources: list[str | os.PathLike], photos: int = 256, size: int = 256) -> np.ndarray:
    """L (photos, 1, size, size) float32 in Lab units from training photos: a prepared dataset
    (``l.npy``; only its training split) or a folder of photos (read and centre-cropped as
    ``colorize prepare`` does), photos spread evenly over each source."""
    from colorizer.color import l8_to_l

    per_source = -(-photos // max(1, len(sources)))
    out = []
    for src in sources:
        src = Path(src)
        if (src / "l.npy").is_file():
            l8 = np.load(src / "l.npy", mmap_mode="r")
            split = np.load(src / "split.npy") if (src / "split.npy").is_file() else np.zeros(len(l8))
            train = np.flatnonzero(split == 0)
            pick = train[np.linspace(0, len(train) - 1, min(per_source, len(train))).astype(int)]
            for i in pick:
                L = l8_to_l(l8[i])
                if L.shape != (size, size):
                    from colorizer.resize import downscale_l

                    L = downscale_l(L, (size, size))
                out.append(L)
        elif src.is_dir():
            from colorizer.batch import find_images
            from colorizer.data import resize_photo
            from colorizer.io import Picture, read_image

            files = find_images(src)
            if not files:
                raise ColorizerError(f"{src}: no photos for calibration")
            pick = [files[int(i)] for i in np.linspace(0, len(files) - 1, min(per_source, len(files)))]
            for f in pick:
                try:
                    rgb = resize_photo(read_image(f).to_array(np.uint8)[..., :3], size)
                except ColorizerError:
                    continue
                out.append(Picture.from_array(rgb).lightness())
        else:
            raise ColorizerError(f"{src}: not a prepared dataset (l.npy) or a folder of photos")
    if not out:
        raise ColorizerError("no calibration photos found")
    return np.stack(out[:photos]).astype(np.float32)[:, None]


def _ends(proto, blocks: int = 0) -> list[str]:
    """Names of the first and the last Conv node of a graph (in its topological order), and of
    the convolutions of the encoder's first ``blocks`` blocks (``/encoder/blocks.K/``)."""
    convs = [n.name for n in proto.graph.node if n.op_type == "Conv"]
    early = {c for c in convs if any(f"/encoder/blocks.{k}/" in c for k in range(blocks))}
    return sorted({convs[0], convs[-1], *early}) if convs else []


def calibration_reader(L: np.ndarray):
    """onnxruntime's calibration input: the photos ``L`` (N, 1, H, W) one at a time as ``L``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.left = iter(L)

        def get_next(self):
            x = next(self.left, None)
            return None if x is None else {"L": x[None]}

    return Reader()


def _probe(proto, tensors: list[str]):
    """A copy of ``proto`` whose outputs are ``tensors`` alone (onnxruntime then leaves out the
    nodes they do not need)."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    del probe.graph.output[:]
    for name in tensors:
        probe.graph.output.add().name = name
    return probe


def _channel_means(proto, tensors: list[str], L: np.ndarray, fuse: bool) -> dict[str, np.ndarray]:
    """Mean of each channel of each tensor of ``proto`` over the pixels of the photos ``L``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if fuse
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(_probe(proto, tensors).SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    sums = [0.0] * len(tensors)
    for x in L:
        for i, out in enumerate(session.run(tensors, {feed: x[None]})):
            sums[i] = sums[i] + out[0].reshape(out.shape[1], -1).mean(1, dtype=np.float64)
    return {t: s / len(L) for t, s in zip(tensors, sums, strict=True)}


def correct_biases(proto, float_proto, L: np.ndarray) -> int:
    """Empirical bias correction of a QDQ int8 model, in place (see the module docstring).

    For each int8 convolution of ``proto`` in graph order (those whose bias is a dequantized
    int32), the mean per-channel difference between its output as the next layer sees it (after
    its QuantizeLinear/DequantizeLinear, so with any ReLU the quantizer folded into the range)
    and the same tensor of the float model ``float_proto`` is measured on the photos ``L``
    (N, 1, H, W) and taken off the bias, in the bias's own int32 steps. Each measurement runs
    with the earlier corrections in place, so a correction does not count a shift that an earlier
    layer has already taken away. Returns how many convolutions were corrected.
    """
    from onnx import numpy_helper

    graph = proto.graph
    inits = {i.name: i for i in graph.initializer}
    made_by = {out: node for node in graph.node for out in node.output}
    float_tensors = {out for node in float_proto.graph.node for out in node.output}
    targets = []
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 3 or node.output[0] not in float_tensors:
            continue
        bias = made_by.get(node.input[2])
        if bias is None or bias.op_type != "DequantizeLinear" or bias.input[0] not in inits:
            continue  # a float convolution
        seen = node.output[0] + "_DequantizeLinear_Output"
        targets.append((node.output[0], seen if seen in made_by else node.output[0],
                        inits[bias.input[0]], numpy_helper.to_array(inits[bias.input[1]])))
    if not targets:
        return 0
    wanted = _channel_means(float_proto, [t[0] for t in targets], L, fuse=True)
    for name, seen, bias, scale in targets:
        shift = _channel_means(proto, [seen], L, fuse=False)[seen] - wanted[name]
        steps = np.round(shift / scale.astype(np.float64)).astype(np.int64)
        bias.CopyFrom(numpy_helper.from_array(
            (numpy_helper.to_array(bias).astype(np.int64) - steps).astype(np.int32), bias.name))
    return len(targets)


def quantize_onnx(float_file: str | os.PathLike, out: str | os.PathLike | None = None, *,
                  cfg: QuantizeConfig | None = None, overwrite: bool = False) -> dict:
    """Write the int8 twin of the float export ``float_file`` (default ``out``: ``NAME.int8.onnx``
    beside it; see the module docstring).

    Returns
    -------
    dict
        ``out``, ``bytes``, ``photos`` (calibration photos), ``mean_abs_diff`` and
        ``max_abs_diff`` (ab, Lab units, int8 against float on the calibration photos),
        ``float_nodes`` (convolutions kept in float), ``bias_corrected`` (int8 convolutions whose
        bias was corrected).
    """
    try:
        import onnx
        import onnxruntime as ort
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError:
        raise ColorizerError("making an int8 model needs onnx and onnxruntime: pip install "
                             "'colorizer[export]'") from None
    cfg = cfg or QuantizeConfig()
    float_file = Path(float_file)
    out = Path(out) if out is not None else int8_path(float_file)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists, not overwritten (use --overwrite)")
    source = load(float_file)  # checks it is a colorizer export
    if source.metadata.get(META + "kind") == "denoiser":
        raise ColorizerError(f"{float_file}: a denoiser; only colorizers have an int8 version")
    if source.metadata.get(META + "precision", "float") != "float":
        raise ColorizerError(f"{float_file}: already quantized")
    L = calibration_l(cfg.sources, cfg.photos, cfg.size)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        simple = Path(tmp) / "simple.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(simple)
        opts.log_severity_level = 3
        ort.InferenceSession(str(float_file), opts, providers=["CPUExecutionProvider"])
        float_proto = onnx.load(str(simple))
        keep = _ends(float_proto, cfg.float_blocks) if cfg.float_ends else []
        quantized = Path(tmp) / "int8.onnx"
        quantize_static(str(simple), str(quantized), calibration_reader(L), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=keep)
        proto = onnx.load(str(quantized))
        some = L[np.unique(np.linspace(0, len(L) - 1, min(cfg.bias_photos, len(L))).astype(int))]
        report["bias_corrected"] = correct_biases(proto, float_proto, some) if len(some) else 0
        del proto.metadata_props[:]
        meta = {k: v for k, v in source.metadata.items() if k.startswith(META)}
        meta[META + "precision"] = "int8"
        meta[META + "quantization"] = (
            f"onnxruntime {ort.__version__} static QDQ, int8 per-channel weights, uint8 "
            f"activations, MinMax ranges on the L of {len(L)} training photos at "
            f"{cfg.size}x{cfg.size}; convolutions kept in float: {', '.join(keep) or 'none'}; "
            f"biases of {report['bias_corrected']} int8 convolutions corrected by their mean "
            f"per-channel error on {len(some)} of those photos")
        meta[META + "float_file"] = float_file.name
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "colorizer"
        proto.doc_string = (f"colorizer model {source.name!r}, int8 (QDQ): CIELAB L (N, 1, H, W) "
                            "in, ab (N, 2, H, W) out; see metadata colorizer.*")

        def write(path: Path) -> None:
            onnx.save(proto, str(path))
            net = load(path)
            diffs = [np.abs(net.predict_ab(x[None]) - source.predict_ab(x[None]))
                     for x in L[:: max(1, len(L) // 16)]]
            report["mean_abs_diff"] = float(np.mean([d.mean() for d in diffs]))
            report["max_abs_diff"] = float(max(d.max() for d in diffs))
            if not report["mean_abs_diff"] <= TOLERANCE:
                raise ColorizerError(f"the int8 model's ab differs from the float one by "
                                     f"{report['mean_abs_diff']:.2f} on average (more than "
                                     f"{TOLERANCE:g}); not written")

        write_model_file(out, write, overwrite)
    return {"out": out, "bytes": out.stat().st_size, "photos": len(L), "float_nodes": keep, **report}


def quantize_packaged(name: str, cfg: QuantizeConfig) -> dict:
    """Re-make the shipped int8 twin of model ``name`` (``assets/NAME.int8.onnx``) from its
    shipped float export (``scripts/ship_model.py`` calls this after re-exporting)."""
    from colorizer.onnx_backend import packaged_onnx, resolve_default

    float_file = packaged_onnx(resolve_default(name))
    if not float_file.is_file():
        raise ColorizerError(f"{float_file}: no float export to quantize; run `colorize export` first")
    return quantize_onnx(float_file, cfg=cfg, overwrite=True)
