"""Settings of ``colorize serve``, and the host names it answers to."""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_name(header: bytes | None) -> str:
    """The name in a Host header, without its port: ``[::1]:8000`` -> ``::1``."""
    host = (header or b"").decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def serve_hosts(bind: str) -> tuple[str, ...] | None:
    """The Host names to answer for a server listening on ``bind``: the loopback names (and
    ``bind``) on a loopback address, any name (None) on another one, which the user chose so that
    other machines reach it under names of their own."""
    import ipaddress

    name = bind.strip("[]").lower()
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    return tuple(dict.fromkeys((*LOOPBACK_HOSTS, name))) if loopback else None


@dataclass
class ServeConfig:
    """Settings of ``colorize serve``."""

    max_upload_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    max_video_bytes: int = 500 * 2**20
    max_video_jobs: int = 4
    max_video_frames: int | None = 54_000  # 30 minutes at 30 fps
    workers: int = 1
    queue: int = 8
    device: str = "auto"
    preload: tuple[str, ...] = ("default",)
    # a camera, stream URL or video file shown colorized at /api/live (colorize serve --live)
    live: str | None = None
    # the names a request's Host header may give (port aside); None takes any. Answering only to
    # the loopback names keeps other web sites out: a page can point its own domain at 127.0.0.1
    # (DNS rebinding) and then read the answers, but its requests still carry its domain's name
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS
