"""Inference and training speed of the shipped models, in one run.

    python benchmarks/bench_inference.py [--repeat 5]

For each shipped model (and the architectures without shipped weights, randomly initialised,
including Zhang et al.'s ``full`` paper-size network next to our ``compact`` one): ms per image at
256x256 (model only, at its working size) and for the full-resolution path on a 1024x768 photo
(L, model, upsampling, join), with the ratio to the fastest. Shipped models also run in
onnxruntime (the packaged ONNX file, or one exported here by ``colorize export``), with the ratio
onnxruntime / torch at 256x256. The headline is how many times faster the ``default`` model is
than Zhang ``full``. Then the default's int8 twin (``assets/NAME.int8.onnx``, ``--precision
int8``) against its float export at 256x256 with 1 and 2 onnxruntime threads, timed alternately
in this process, and training images per second at 128x128, batch 16.

    python benchmarks/bench_inference.py --int8-only   # just the int8 against float table
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_seconds

from colorizer import onnx_backend
from colorizer.api import colorize_picture
from colorizer.errors import ColorizerError
from colorizer.io import Picture
from colorizer.models.zhang import ZhangColorizer, ZhangConfig
from colorizer.registry import DEFAULT_MODEL, build_untrained, get_colorizer, is_trainable, list_colorizers
from colorizer.weights import packaged_weights


def best_ms(fn, repeat):
    """Best of ``repeat`` timed calls after one warm-up, in milliseconds."""
    return 1000 * best_seconds(fn, repeat, warmup=True)


def onnx_model(name: str, folder: str):
    """The packaged ONNX export of ``name``, or one exported into ``folder``; None if it cannot be."""
    from colorizer.export import export_model

    path = onnx_backend.packaged_onnx(name)
    if not path.exists():
        path = Path(folder) / f"{name}.onnx"
        try:
            export_model(name, path, dynamic=True)
        except ColorizerError as exc:
            print(f"  ({name}: no onnxruntime column: {exc})")
            return None
    return onnx_backend.load(path)


def int8_table(repeat: int) -> None:
    """ms at 256x256 of the default's float export and its int8 twin, 1 and 2 threads, alternating."""
    float_file = onnx_backend.packaged_onnx(DEFAULT_MODEL)
    int8_file = onnx_backend.int8_path(float_file)
    if not (float_file.exists() and int8_file.exists()):
        print(f"int8: no {int8_file.name} (scripts/quantize_model.py makes it)")
        return
    L = (np.random.default_rng(0).random((1, 1, 256, 256)) * 100).astype(np.float32)
    print(f"int8 against float, default ({DEFAULT_MODEL}) in onnxruntime, 256x256, best of {repeat}:")
    for threads in (1, 2):
        nets = [onnx_backend.load(f, threads=threads) for f in (float_file, int8_file)]
        for n in nets:
            n.predict_ab(L)
        times = [[], []]
        for _ in range(repeat):
            for t, n in zip(times, nets, strict=True):
                start = time.perf_counter()
                n.predict_ab(L)
                t.append(time.perf_counter() - start)
        tf, tq = (1000 * min(t) for t in times)
        print(f"  {threads} thread{'s' if threads > 1 else ' '}: float {tf:6.1f} ms  int8 {tq:6.1f} ms  "
              f"int8 is {tf / tq:.2f}x faster")


def models():
    for name in list_colorizers():
        if name in ("levin",):  # needs hints; see bench_levin.py
            continue
        if is_trainable(name) and not packaged_weights(name).exists():
            yield f"{name} (untrained)", build_untrained(name).eval()
        else:
            yield name, get_colorizer(name, device="cpu")
        if name == "zhang":  # the paper's size, never shipped (about 32 M parameters)
            yield "zhang full (untrained)", ZhangColorizer(ZhangConfig(encoder="none", size="full")).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--int8-only", action="store_true", help="only the int8 against float table")
    args = ap.parse_args()
    if args.int8_only:
        int8_table(max(args.repeat, 10))
        return
    rng = np.random.default_rng(0)
    photo = Picture.from_array(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8))
    L256 = torch.rand(1, 1, 256, 256) * 100
    rows = []
    tmp = tempfile.TemporaryDirectory()
    with torch.inference_mode():
        for name, model in models():
            t256 = best_ms(lambda m=model: m.predict_ab(L256), args.repeat)
            tfull = best_ms(lambda m=model: colorize_picture(photo, m, 256), args.repeat)
            net = onnx_model(name, tmp.name) if is_trainable(name) and "(" not in name else None
            o256 = ofull = None
            if net is not None:
                o256 = best_ms(lambda n=net: n.predict_ab(L256.numpy()), args.repeat)
                ofull = best_ms(lambda n=net: onnx_backend.colorize_picture(photo, n, 256), args.repeat)
            rows.append((name, t256, tfull, o256, ofull))
    tmp.cleanup()
    fastest = min(r[1] for r in rows if r[1] > 0.5) if any(r[1] > 0.5 for r in rows) else 1.0
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'':22s} {'torch':>24s} {'onnxruntime':>24s}")
    print(f"{'model':22s} {'256x256 ms':>11s} {'1024x768 ms':>12s} {'256x256 ms':>11s} {'1024x768 ms':>12s} "
          f"{'ort/torch':>10s} {'x fastest':>10s}")
    fmt = lambda v, w: f"{v:{w}.1f}" if v is not None else f"{'-':>{w}s}"  # noqa: E731
    for name, t256, tfull, o256, ofull in rows:
        ratio = f"{o256 / t256:10.2f}" if o256 is not None else f"{'-':>10s}"
        print(f"{name:22s} {t256:11.1f} {tfull:12.1f} {fmt(o256, 11)} {fmt(ofull, 12)} {ratio} "
              f"{t256 / fastest:10.2f}")
    times = {name: (t256, tfull) for name, t256, tfull, _, _ in rows}
    full = times["zhang full (untrained)"]
    default = times[DEFAULT_MODEL]
    print(f"headline: default ({DEFAULT_MODEL}) is {full[0] / default[0]:.1f}x faster than Zhang full "
          f"at 256x256 and {full[1] / default[1]:.1f}x on the 1024x768 path")
    ort = {r[0]: r[3] for r in rows if r[3] is not None}
    if DEFAULT_MODEL in ort:
        print(f"onnxruntime: default ({DEFAULT_MODEL}) at 256x256 takes "
              f"{ort[DEFAULT_MODEL] / default[0]:.0%} of the torch time")
    int8_table(max(args.repeat, 10))
    print("training, 128x128, batch 16:")
    trainable = [(n, build_untrained(n)) for n in list_colorizers() if is_trainable(n)]
    trainable.append(("zhang full", ZhangColorizer(ZhangConfig(encoder="none", size="full"))))
    for name, model in trainable:
        model.train()
        opts = model.configure_optimizers(2e-4)
        L, ab = torch.rand(16, 1, 128, 128) * 100, torch.randn(16, 2, 128, 128) * 20
        ms = best_ms(lambda m=model, o=opts, L=L, ab=ab: m.training_step(L, ab, o, 10**6),
                     max(2, args.repeat // 2))
        print(f"  {name:20s} {16 / (ms / 1000):8.1f} images/s")


if __name__ == "__main__":
    main()
