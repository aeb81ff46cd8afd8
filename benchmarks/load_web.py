"""Load test for ``colorize serve``: N requests from C concurrent clients, on loopback only.

Each client posts the same small photo to ``/api/colorize`` in turn; a 503 answer makes that
client wait for its Retry-After (at most 2 s) before its next request. Checks, and prints:

* every 5xx is a 503 that carries Retry-After;
* every 200 is a PNG of the photo's size;
* the server's RSS after the run, against its RSS after a warm-up (Linux /proc, when the pid is
  known);
* the median and p95 latency of the answered (200) requests.

Run against a server of its own (started on a free port and stopped at the end)::

    python benchmarks/load_web.py --requests 200 --clients 50

or against one already running: ``--url http://127.0.0.1:8000 --pid PID``. tests/test_web.py
uses :func:`run_load`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process (Linux), or None where /proc is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_png(body: bytes, size: tuple[int, int]) -> str | None:
    """None if ``body`` is a PNG of ``size`` (width, height), else what is wrong."""
    from PIL import Image

    if not body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "not a PNG"
    try:
        with Image.open(io.BytesIO(body)) as im:
            im.load()
            if im.size != size:
                return f"PNG of size {im.size}, expected {size}"
    except Exception as exc:  # a broken PNG, whatever Pillow says about it
        return f"broken PNG ({exc})"
    return None


async def _client(client, url: str, photo: bytes, size: tuple[int, int], model: str, count: int,
                  out: list) -> None:
    for _ in range(count):
        start = time.perf_counter()
        try:
            r = await client.post(url, files={"image": ("load.png", photo, "image/png")},
                                  data={"model": model})
        except Exception as exc:  # connection refused or reset: a failure of the server
            out.append({"status": None, "seconds": time.perf_counter() - start,
                        "problem": f"request failed: {type(exc).__name__}: {exc}"})
            continue
        seconds = time.perf_counter() - start
        problem = None
        if r.status_code == 200:
            problem = check_png(r.content, size)
        elif r.status_code >= 500 and (r.status_code != 503 or "retry-after" not in r.headers):
            problem = f"{r.status_code} without Retry-After: {r.text[:200]}"
        out.append({"status": r.status_code, "seconds": seconds, "problem": problem})
        if r.status_code == 503:
            try:
                wait = float(r.headers.get("retry-after", "1"))
            except ValueError:
                wait = 1.0
            await asyncio.sleep(min(2.0, max(0.05, wait)))


async def _load(url: str, photo: bytes, size: tuple[int, int], model: str, requests: int,
                clients: int) -> list[dict]:
    import httpx2

    if urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load tests run on loopback only, not {url}")
    out: list[dict] = []
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        shares = [requests // clients + (i < requests % clients) for i in range(clients)]
        await asyncio.gather(*(_client(client, "/api/colorize", photo, size, model, n, out)
                               for n in shares if n))
    return out


def run_load(url: str, photo: bytes, size: tuple[int, int], *, model: str = "default",
             requests: int = 200, clients: int = 50, warmup: int = 10, pid: int | None = None,
             say=print) -> dict:
    """Warm up, then send ``requests`` requests from ``clients`` concurrent clients.

    Returns a dict: ``statuses`` (Counter), ``problems`` (list of str), ``median_s`` and
    ``p95_s`` (latency of the 200s, None without any), ``rss_warm`` and ``rss_end`` (bytes, None
    without ``pid``), and ``seconds`` (wall time of the loaded part).
    """
    warm = asyncio.run(_load(url, photo, size, model, warmup, min(warmup, 5)))
    rss_warm = rss_bytes(pid) if pid else None
    start = time.perf_counter()
    results = asyncio.run(_load(url, photo, size, model, requests, clients))
    seconds = time.perf_counter() - start
    rss_end = rss_bytes(pid) if pid else None
    ok = sorted(r["seconds"] for r in results if r["status"] == 200)
    report = {
        "statuses": Counter(r["status"] for r in results),
        "problems": [r["problem"] for r in warm + results if r["problem"]],
        "median_s": statistics.median(ok) if ok else None,
        "p95_s": ok[min(len(ok) - 1, int(round(0.95 * (len(ok) - 1))))] if ok else None,
        "rss_warm": rss_warm, "rss_end": rss_end, "seconds": seconds,
    }
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(report["statuses"].items(), key=str))
    say(f"load: {requests} requests from {clients} clients in {seconds:.1f} s; statuses {statuses}; "
        f"{len(report['problems'])} problems")
    if ok:
        say(f"latency of {len(ok)} answered requests: median {report['median_s'] * 1000:.0f} ms, "
            f"p95 {report['p95_s'] * 1000:.0f} ms")
    if rss_warm and rss_end:
        say(f"server RSS: {rss_warm / 2**20:.0f} MB after warm-up, {rss_end / 2**20:.0f} MB at the end "
            f"({rss_end / rss_warm:.2f}x)")
    return report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path, *extra: str, env: dict | None = None,
                 wait: float = 300) -> subprocess.Popen:
    """``colorize serve`` on 127.0.0.1:port, logging to ``log_path``; waits (up to ``wait`` seconds:
    a busy machine can be slow to import torch) until /healthz answers."""
    import httpx2

    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "colorizer.cli", "serve", "--host", "127.0.0.1",
                             "--port", str(port), *extra], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    log.close()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"colorize serve exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"colorize serve did not answer within {wait:.0f} s: {log_path.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _photo(width: int, height: int) -> bytes:
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width]
    grey = ((xx * 255 // max(1, width - 1) + yy * 97) % 256).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="A running server on loopback (default: start one)")
    parser.add_argument("--pid", type=int, help="The running server's process id, for its RSS")
    parser.add_argument("--model", default="default")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    args = parser.parse_args()
    photo = _photo(args.width, args.height)
    proc = None
    url, pid = args.url, args.pid
    if url is None:
        port = free_port()
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"load_web_{port}.log"
        proc = start_server(port, log_path)
        url, pid = f"http://127.0.0.1:{port}", proc.pid
        print(f"server log: {log_path}")
    try:
        report = run_load(url, photo, (args.width, args.height), model=args.model,
                          requests=args.requests, clients=args.clients, pid=pid)
    finally:
        if proc is not None:
            stop_server(proc)
    for problem in report["problems"][:10]:
        print("problem:", problem)
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
