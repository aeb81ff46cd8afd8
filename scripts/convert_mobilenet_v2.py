"""Convert the int8 TFLite MobileNetV2 in ../shared/weights to float safetensors for our PyTorch
MobileNetV2 (colorizer.models.mobilenet), once, for training.

    pip install tflite   # dev-only: a pure-Python flatbuffers reader, never needed at run time
    python scripts/convert_mobilenet_v2.py ../shared/weights/mobilenet_v2_1.0_224_ptq.tflite \
        --out mobilenet_v2.safetensors

Every CONV_2D / DEPTHWISE_CONV_2D of the file, in graph order, maps to our convolutions in
definition order (stem, the 17 inverted residuals, the 1280 head, the 1001 classifier); shapes
are checked one by one. Facts from ../shared/weights/README.md:

* real = scale[c] * (q - zero_point[c]) per output channel; int32 biases carry their own scale
  (input scale x weight scale);
* conv kernels are OHWI (-> OIHW), depthwise kernels 1HWC (-> C1HW);
* batch norm is folded into weight and bias already.

The weights are Apache-2.0 (Google); the card written beside the output says so and that they
were converted. Our trained models that start from them carry the same notice in their cards.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch


def _tensor_array(model, graph, index: int) -> np.ndarray:
    """A constant tensor of the graph, dequantised to float32."""
    t = graph.Tensors(index)
    raw = model.Buffers(t.Buffer()).DataAsNumpy()
    dtype = {9: np.int8, 2: np.int32, 0: np.float32, 3: np.uint8}[t.Type()]
    q = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())
    if dtype == np.float32:
        return q.copy()
    quant = t.Quantization()
    scale, zero = quant.ScaleAsNumpy(), quant.ZeroPointAsNumpy()
    axis = quant.QuantizedDimension()
    shape = [1] * q.ndim
    if np.size(scale) > 1:
        shape[axis] = -1
    return ((q.astype(np.float64) - np.reshape(zero, shape)) * np.reshape(scale, shape)).astype(np.float32)


def read_convolutions(path: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(kind, weight in PyTorch layout, bias) for each convolution of the TFLite file, in order."""
    import tflite

    model = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    graph = model.Subgraphs(0)
    out = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if kind not in (tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D):
            continue
        w = _tensor_array(model, graph, op.Inputs(1))
        b = _tensor_array(model, graph, op.Inputs(2))
        if kind == tflite.BuiltinOperator.CONV_2D:
            out.append(("conv", w.transpose(0, 3, 1, 2), b))  # OHWI -> OIHW
        else:
            out.append(("depthwise", w.transpose(3, 0, 1, 2), b))  # 1HWC -> C1HW
    return out


def convert(path: str) -> dict[str, torch.Tensor]:
    """State dict of ``MobileNetV2(classifier=True)`` from the TFLite file."""
    from colorizer.models.mobilenet import MobileNetV2

    net = MobileNetV2(classifier=True)
    convs = [(name, m) for name, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    found = read_convolutions(path)
    if len(found) != len(convs):
        raise SystemExit(f"{path}: {len(found)} convolutions, our MobileNetV2 has {len(convs)}")
    state = {}
    for (name, module), (kind, w, b) in zip(convs, found, strict=True):
        if tuple(w.shape) != tuple(module.weight.shape) or (kind == "depthwise") != (module.groups > 1):
            raise SystemExit(f"{name}: file has {kind} {w.shape}, ours {tuple(module.weight.shape)}")
        state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(w))
        state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(b))
    net.load_state_dict(state)  # every tensor is accounted for
    return state


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tflite", help="mobilenet_v2_1.0_224_ptq.tflite")
    parser.add_argument("--out", required=True,
                        help="output .safetensors (a .json card is written beside it)")
    args = parser.parse_args(argv)
    from colorizer.models.mobilenet import MobileNetV2
    from colorizer.weights import save_weights

    state = convert(args.tflite)
    net = MobileNetV2(classifier=True)
    net.load_state_dict(state)
    sha = hashlib.sha256(Path(args.tflite).read_bytes()).hexdigest()
    save_weights(net, args.out, {
        "architecture": "MobileNetV2", "config": {"classifier": True},
        "source": f"{Path(args.tflite).name} (sha256 {sha}), converted by scripts/convert_mobilenet_v2.py",
        "licence": "Apache-2.0 (Google, TensorFlow/Keras MobileNetV2 ImageNet weights). Changed: "
                   "dequantised from int8 to float32 and re-laid out for PyTorch."})
    print(f"wrote {args.out} ({sum(v.numel() for v in state.values())} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
