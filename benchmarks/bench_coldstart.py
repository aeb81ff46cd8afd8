"""Cold start of `colorize image` on one 12 MP JPEG, from process start to file written:
the torch path against the onnxruntime path, in the same run.

    python benchmarks/bench_coldstart.py [--runs 5] [--colour] [--out-format jpg]

Makes a 4000x3000 JPEG (greyscale, or colour with --colour) from the first eval photo in
../shared/data (a synthetic picture without it), then runs ``colorize image PHOTO -o OUT
--backend torch`` and ``--backend onnx`` alternately, each in a fresh process, ``--runs`` times,
with the default model. Prints the median and best wall seconds of each path and the ratio
torch / onnx, then where the onnx path's time goes, stage by stage, in one process (imports,
session, JPEG decode, lightness, resize, model, upsampling, Lab->RGB join, encode and write).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "eval" / "val20"


def make_photo(path: Path, colour: bool) -> None:
    files = sorted(SHARED.glob("*.png")) if SHARED.is_dir() else []
    if files:
        im = Image.open(files[0]).convert("RGB")
    else:
        yy, xx = np.mgrid[0:300, 0:400]
        im = Image.fromarray((np.stack([xx / 400, yy / 300, 0.5 + 0.5 * np.sin(xx / 30)], -1)
                              * 255).astype(np.uint8))
    im = im.resize((4000, 3000), Image.BICUBIC)
    (im if colour else im.convert("L")).save(path, quality=92)


def command() -> list[str]:
    script = shutil.which("colorize", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "colorizer.cli"]


def cold_run(photo: Path, out: Path, backend: str) -> float:
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    r = subprocess.run([*command(), "image", str(photo), "-o", str(out), "--backend", backend],
                       capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0 or not out.exists():
        raise SystemExit(f"--backend {backend} failed: {r.stderr.strip()}")
    return elapsed


def stages(photo: Path, out: Path) -> list[tuple[str, float]]:
    """The onnx path in this process, timed hop by hop (run it in a fresh process for imports)."""
    code = f"""
import time
t0 = time.perf_counter(); marks = []
def mark(label): marks.append((label, time.perf_counter()))
import numpy as np
from colorizer import onnx_backend
from colorizer.color import l_ab_to_srgb
from colorizer.io import read_image, write_image
from colorizer.resize import downscale_l, upsample_ab, working_shape
mark("imports (numpy, PIL, OpenCV, onnxruntime)")
net = onnx_backend.load(onnx_backend.packaged_onnx(onnx_backend.resolve_default("default")))
mark("onnxruntime session")
pic = read_image({str(photo)!r})
mark("JPEG decode")
L = pic.lightness()
mark("lightness L")
h, w = L.shape
small = downscale_l(L, working_shape(h, w, net.preferred_size, net.multiple))
mark("resize to working size")
ab = net.predict_ab(small[None, None])[0]
mark("model")
up = upsample_ab(ab, h, w)
mark("upsample ab")
rgb = l_ab_to_srgb(L, up, pic.pixels.dtype)
mark("join L + ab -> sRGB")
write_image(pic.with_pixels(rgb), {str(out)!r}, overwrite=True)
mark("encode + write " + {out.suffix!r})
prev = t0
for label, t in marks:
    print(f"{{label}}\\t{{t - prev:.3f}}")
    prev = t
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [(line.split("\t")[0], float(line.split("\t")[1])) for line in r.stdout.splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--colour", action="store_true", help="a colour JPEG instead of a greyscale one")
    ap.add_argument("--out-format", default="jpg", choices=["jpg", "png"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photo, out = Path(tmp) / "photo.jpg", Path(tmp) / f"out.{args.out_format}"
        make_photo(photo, args.colour)
        cold_run(photo, out, "onnx")  # fill the page cache for both paths' files
        cold_run(photo, out, "torch")
        times = {"torch": [], "onnx": []}
        for _ in range(args.runs):
            for backend in times:
                times[backend].append(cold_run(photo, out, backend))
        print(f"one 4000x3000 {'colour' if args.colour else 'greyscale'} JPEG -> .{args.out_format}, "
              f"default model, process start to file written, {args.runs} runs each:")
        for backend, ts in times.items():
            print(f"  {backend:5s}  median {statistics.median(ts):.3f} s  best {min(ts):.3f} s")
        ratio = statistics.median(times["torch"]) / statistics.median(times["onnx"])
        print(f"  torch / onnx: {ratio:.2f}x (medians)")
        print("onnx path by stage (one process):")
        rows = stages(photo, out)
        for label, seconds in rows:
            print(f"  {label:44s} {seconds:.3f} s")
        print(f"  {'total':44s} {sum(s for _, s in rows):.3f} s")


if __name__ == "__main__":
    main()
