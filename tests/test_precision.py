"""The int8 default (``--precision``): which file runs, a stale int8 file is never run, and
int8 and float agree on a photo."""

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from colorizer import onnx_backend
from colorizer.cli import cli
from colorizer.errors import ColorizerError
from colorizer.io import read_image

ASSETS = Path(str(resources.files("colorizer") / "assets"))
SAMPLE = ASSETS / "sample_grey.jpg"
NAME = onnx_backend.resolve_default("default")
INT8 = onnx_backend.int8_path(onnx_backend.packaged_onnx(NAME))


def test_int8_path_sits_beside_the_float_export():
    assert onnx_backend.int8_path(Path("a/gan.onnx")) == Path("a/gan.int8.onnx")


def test_shipped_int8_is_the_shipped_weights():
    """gan.int8.onnx stands for the shipped safetensors: rerun scripts/quantize_model.py (or
    scripts/ship_model.py) whenever they change."""
    assert INT8.is_file(), "the default model's int8 file is missing from the package"
    net = onnx_backend.load(INT8, source=onnx_backend.packaged_onnx(NAME).with_suffix(".safetensors"))
    assert net.precision == "int8" and net.name == NAME


def test_shipped_int8_keeps_the_ends_in_float_and_is_bias_corrected():
    """The first and last convolution stay float, every encoder block is int8 with its biases
    corrected, and the file says so."""
    onnx = pytest.importorskip("onnx")
    from colorizer.quantize import QuantizeConfig, _ends

    proto = onnx.load(str(INT8))
    note = {p.key: p.value for p in proto.metadata_props}["colorizer.quantization"]
    assert QuantizeConfig().float_blocks == 0 and QuantizeConfig().bias_photos > 0
    assert "/encoder/blocks." not in note and "/gen/out/Conv" in note
    assert "biases of" in note and "biases of 0 " not in note
    # the selection itself, on a stand-in graph: first, last and the early blocks' convolutions
    names = ["/gen/encoder/stem/Conv", "/gen/encoder/blocks.0/a/Conv", "/gen/encoder/blocks.1/b/Conv",
             "/gen/encoder/blocks.2/c/Conv", "/gen/ups.0/Conv", "/gen/out/Conv"]
    graph = onnx.helper.make_graph([onnx.helper.make_node("Conv", ["x", "w"], ["y"], name=n) for n in names],
                                   "g", [], [])
    assert _ends(onnx.helper.make_model(graph), 2) == sorted(names[:3] + [names[-1]])


def _conv_chain(rng: np.random.Generator):
    """A float graph of four 3x3 convolutions with ReLU between them, 8 channels, one input."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, x = [], [], "L"
    for k, (cin, cout) in enumerate([(1, 8), (8, 8), (8, 8), (8, 2)]):
        w = (rng.normal(size=(cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
        b = rng.normal(scale=0.1, size=cout).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Conv", [x, f"w{k}", f"b{k}"], [f"c{k}"], name=f"conv{k}",
                                      pads=[1, 1, 1, 1]))
        x = f"c{k}"
        if k < 3:
            nodes.append(helper.make_node("Relu", [x], [f"r{k}"], name=f"relu{k}"))
            x = f"r{k}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("L", TensorProto.FLOAT,
                                                                             [1, 1, 16, 16])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 2, 16, 16])],
                              inits)
    return onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_bias_correction_takes_off_the_int8_models_mean_error(tmp_path):
    """On a small conv chain quantized as the default is, the correction leaves the int8 output's
    mean per-channel error against float far smaller on photos it was not fitted on."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from colorizer.quantize import _channel_means, calibration_reader, correct_biases

    rng = np.random.default_rng(0)
    float_proto = _conv_chain(rng)
    # photos: lightness ramps with texture, a skewed input where int8 rounding is biased
    def photos(n):
        ramp = np.linspace(0, 1, 16, dtype=np.float32)
        return np.stack([(100 * rng.random() * ramp[None, :] * ramp[:, None]
                          + 3 * rng.random((16, 16))).astype(np.float32)[None] for _ in range(n)])
    fit, held = photos(16), photos(16)

    onnx.save(float_proto, str(tmp_path / "f.onnx"))
    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), calibration_reader(fit),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=["conv0", "conv3"])
    proto = onnx.load(str(tmp_path / "q.onnx"))

    def error(p):  # mean |per-channel mean difference| of each int8 conv's output, held-out photos
        names = ["r1", "r2"]
        want = _channel_means(float_proto, names, held, fuse=True)
        seen = _channel_means(p, [n + "_DequantizeLinear_Output" for n in names], held, fuse=False)
        return float(np.mean([np.abs(seen[n + "_DequantizeLinear_Output"] - want[n]).mean()
                              for n in names]))

    before = error(proto)
    assert correct_biases(proto, float_proto, fit) == 2  # conv1 and conv2; the ends are float
    after = error(proto)
    assert before > 0 and after < 0.5 * before, (before, after)
    ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])  # still valid


def test_precision_choice():
    warnings = []
    auto = onnx_backend.load_for_job("auto", "default", warn=warnings.append)
    assert auto.precision == "int8" and auto.path == INT8 and not warnings
    assert onnx_backend.load_for_job("auto", "default", precision="float").precision == "float"
    assert onnx_backend.load_for_job("onnx", "default", precision="int8").precision == "int8"
    with pytest.raises(ColorizerError, match="int8"):
        onnx_backend.load_for_job("torch", "default", precision="int8")
    with pytest.raises(ColorizerError, match="int8"):
        onnx_backend.load_for_job("auto", "default", torch_only="--samples", precision="int8")
    with pytest.raises(ColorizerError, match="--precision"):
        onnx_backend.load_for_job("auto", "default", precision="int4")
    assert onnx_backend.load_for_job("torch", "default") is None  # float torch, as before


def test_auto_opens_only_the_int8_file_when_it_stands_for_the_weights(monkeypatch):
    opened = []
    real = onnx_backend._session
    monkeypatch.setattr(onnx_backend, "_session",
                        lambda path, *a, **k: opened.append(path) or real(path, *a, **k))
    assert onnx_backend.load_for_job("auto", "default").precision == "int8"
    assert opened == [INT8]  # no float session built and thrown away


def _copy_model(tmp_path: Path, tamper_int8: bool) -> Path:
    for suffix in (".onnx", ".safetensors", ".json"):
        shutil.copyfile(ASSETS / f"{NAME}{suffix}", tmp_path / f"{NAME}{suffix}")
    if not tamper_int8:
        shutil.copyfile(INT8, tmp_path / INT8.name)
        return tmp_path / f"{NAME}.safetensors"
    import onnx

    proto = onnx.load(str(INT8))
    for entry in proto.metadata_props:
        if entry.key == "colorizer.weights_sha256":
            entry.value = "0" * 64  # as if quantized from other weights
    onnx.save(proto, str(tmp_path / INT8.name))
    return tmp_path / f"{NAME}.safetensors"


def test_stale_int8_falls_back_to_float_or_is_refused(tmp_path):
    weights = _copy_model(tmp_path, tamper_int8=True)
    warnings = []
    net = onnx_backend.load_for_job("auto", NAME, weights, warn=warnings.append)
    assert net.precision == "float" and net.path == tmp_path / f"{NAME}.onnx"
    assert len(warnings) == 1 and "other weights" in warnings[0] and "quantize_model" in warnings[0]
    with pytest.raises(ColorizerError, match="other weights"):
        onnx_backend.load_for_job("auto", NAME, weights, precision="int8")


def test_int8_beside_given_weights_is_used(tmp_path):
    weights = _copy_model(tmp_path, tamper_int8=False)
    net = onnx_backend.load_for_job("auto", NAME, weights)
    assert net.precision == "int8" and net.path == tmp_path / INT8.name
    (tmp_path / INT8.name).unlink()  # no int8 file: float, without a word
    warnings = []
    assert onnx_backend.load_for_job("auto", NAME, weights, warn=warnings.append).precision == "float"
    assert not warnings


def test_int8_agrees_with_float_on_a_photo():
    """On the sample photo the int8 model's ab stays within 3 Lab units of the float model's on
    average (measured: about 1.5), and the pictures within a few 8-bit codes."""
    pic = read_image(SAMPLE)
    nets = {p: onnx_backend.load_for_job("onnx", "default", precision=p) for p in ("float", "int8")}
    L = pic.lightness()
    from colorizer.resize import downscale_l, working_shape

    small = downscale_l(L, working_shape(*L.shape, 256, nets["float"].multiple))[None, None]
    ab = {p: n.predict_ab(small) for p, n in nets.items()}
    assert np.abs(ab["int8"] - ab["float"]).mean() <= 3.0
    assert np.abs(ab["float"]).mean() > 3.0  # a coloured answer, not two greys that agree
    rgb = {p: onnx_backend.colorize_picture(pic, n).pixels.astype(int) for p, n in nets.items()}
    assert np.abs(rgb["int8"] - rgb["float"]).mean() <= 4.0  # 3.4 for the shipped weights


def test_cli_precision(tmp_path):
    runner = CliRunner()
    out = tmp_path / "f.png"
    r = runner.invoke(cli, ["image", str(SAMPLE), "-o", str(out), "--precision", "float"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["image", str(SAMPLE), "-o", str(tmp_path / "q.png"), "--precision", "int8"])
    assert r.exit_code == 0, r.output
    a, b = (np.asarray(read_image(p).pixels, int) for p in (out, tmp_path / "q.png"))
    assert a.shape == b.shape and 0 < np.abs(a - b).mean() <= 4.0  # the two models ran
    r = runner.invoke(cli, ["image", str(SAMPLE), "-o", str(tmp_path / "t.png"), "--precision", "int8",
                            "--backend", "torch"])
    assert r.exit_code != 0 and "int8" in r.output
    assert "--precision" in runner.invoke(cli, ["video", "--help"]).output
