"""colorize serve: the HTTP API (in process), a real server on loopback under load, and the page
driven in Debian's Chromium by Playwright. Model-agnostic: the shipped default is only asked for
an image of the right size; colour checks use levin (scribbles) and gray."""

import io
import json
import re
import shutil
import sys
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import grey_of, load_script, mux_frames, sky_over_grass, smooth_photo
from PIL import Image

from colorizer.cli import cli
from colorizer.color import srgb_to_l

pytest.importorskip("fastapi", reason="colorize serve needs the web extra: pip install -e '.[web]'")
pytest.importorskip("httpx2", reason="Starlette's TestClient and these tests use httpx2")

from fastapi.testclient import TestClient  # noqa: E402

from colorizer.web.app import ServeConfig, create_app, host_name, serve_hosts  # noqa: E402

STATIC = Path(str(resources.files("colorizer.web") / "static"))
SAMPLE = Path(str(resources.files("colorizer") / "assets" / "sample_grey.jpg"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


load_web = load_script("benchmarks/load_web.py")


def cli_denoised(pic):
    """(``pic`` cleaned as `colorize denoise` cleans it, the denoiser it used): the shipped
    export in onnxruntime where it is fresh, else the torch model; spelled out here, not through
    ``onnx_backend.load_denoiser``, so that the page is held to the rule and not to itself."""
    from colorizer import onnx_backend
    from colorizer.api import denoise_picture
    from colorizer.registry import get_denoiser

    dn = onnx_backend.load_for_job("auto", "denoise", kind="denoiser")
    if dn is not None:
        return onnx_backend.denoise_picture(pic, dn), dn
    dn = get_denoiser()
    return denoise_picture(pic, dn), dn


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


LOCAL = "http://127.0.0.1"  # the in-process client's Host: the server answers to loopback names only


@pytest.fixture
def client():
    with TestClient(create_app(ServeConfig(preload=("gray",), max_pixels=2_000_000)), base_url=LOCAL) as c:
        yield c


def post(client, data: bytes, name: str = "photo.png", url: str = "/api/colorize", **fields):
    return client.post(url, files={"image": (name, data, "application/octet-stream")}, data=fields)


def png_of(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


# --- the API, in process ---------------------------------------------------------------------------


def test_page_loads_nothing_from_outside_and_sends_a_csp(client):
    r = client.get("/")
    assert r.status_code == 200 and "<canvas" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    for f in STATIC.iterdir():
        text = f.read_text()
        assert not re.search(r"""(src|href|url)\s*[=(]\s*['"]?(https?:)?//""", text), f.name
        assert "fetch(\"http" not in text and "@import" not in text and "fonts.g" not in text, f.name
    for name in ("app.js", "app.css", "base.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in ("/static/", "/static", "/static/index.html", "/static/..%2fapp.py", "/api/"):
        r = client.get(path)
        assert r.status_code == 404 and "error" in r.json(), path  # no listing, no other files


def test_colorize_gives_a_png_of_the_upload_size(client):
    photo = smooth_photo(45, 70)
    out = png_of(post(client, png_bytes(photo), model="gray"))
    assert out.size == (70, 45)
    assert np.abs(srgb_to_l(np.asarray(out)) - srgb_to_l(photo)).max() < 1  # the upload's lightness
    rgba = np.dstack([smooth_photo(30, 20), np.full((30, 20), 128, np.uint8)])
    out = png_of(post(client, png_bytes(rgba), model="gray", saturation="0.5", size="16"))
    assert out.size == (20, 30) and out.mode == "RGBA"  # alpha kept, as in the CLI
    r = post(client, png_bytes(photo), name="../../etc/x y.png", model="gray")
    assert r.headers["content-disposition"] == 'inline; filename="x_y_gray.png"'


def test_default_model_gives_full_size_png(client):
    assert png_of(post(client, jpeg_bytes(smooth_photo(50, 64)), model="default")).size == (64, 50)


def test_scribble_hints_colour_the_photo_where_painted(client):
    grey = np.full((40, 60), 128, np.uint8)
    grey[:, 30:] = 200
    hints = {"width": 60, "height": 40,
             "strokes": [{"points": [[5, 20], [20, 20]], "color": "#c0392b", "width": 5}]}
    out = np.asarray(png_of(post(client, png_bytes(grey), model="levin", hints=json.dumps(hints))), int)
    r, g, b = out[20, 12]
    assert r > g + 30 and r > b + 30  # red where it was painted
    # on top of a model (gray): corrected where painted, the rest keeps the model's (grey) colours
    out = np.asarray(png_of(post(client, png_bytes(grey), model="gray", hints=json.dumps(hints))), int)
    assert out[20, 12, 0] > out[20, 12, 1] + 20 and np.ptp(out[20, 55]) < 6
    # no strokes: a plain colorization
    assert png_of(post(client, png_bytes(grey), model="gray", hints='{"strokes": []}')).size == (60, 40)


def test_saturation_slider_applies_to_scribbled_results(client):
    grey = np.full((40, 60), 128, np.uint8)
    hints = json.dumps({"strokes": [{"points": [[5, 20], [20, 20]], "color": "#c0392b", "width": 5}]})

    def chroma(model, saturation):
        out = np.asarray(png_of(post(client, png_bytes(grey), model=model, hints=hints,
                                     saturation=saturation)), int)
        return np.ptp(out[20, 12])

    for model in ("levin", "gray"):
        full, half, none = chroma(model, "1"), chroma(model, "0.5"), chroma(model, "0")
        assert full > 40 and 0.3 * full < half < 0.7 * full and none <= 2, (model, full, half, none)


def test_api_docs_work_offline(client):
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", r.text), path  # no CDN
        csp = r.headers["content-security-policy"]
        assert "http" not in csp, csp
        for url in re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", r.text):
            if url.startswith("/"):
                assert client.get(url).status_code == 200, url  # served by this server
    assert client.get("/openapi.json").json()["paths"]["/api/colorize"]
    assert client.get("/docs-static/").status_code == 404  # no directory listing


@pytest.mark.parametrize("hints, message", [
    ({"width": 10, "height": 10, "strokes": [{"points": [[1, 1]], "color": "#ff0000"}]}, "drawn on a 10x10"),
    ({"strokes": [{"points": [[5, 5], [90, 5]], "color": "#ff0000"}]}, "outside the 60x40 photo"),
    ({"strokes": [{"points": [[5, 5]], "color": "red"}]}, "color must be"),
    ({"strokes": [{"points": "x", "color": "#ff0000"}]}, "points must be"),
    ({"strokes": {"a": 1}}, "expected"),
    ("{not json", "not valid JSON"),
    ('{"strokes": [{"points": [[1%s, 1]], "color": "#ff0000"}]}' % ("0" * 400), "outside"),
    ('{"strokes": [{"points": [[1, 1]], "color": [1%s, 0, 0]}]}' % ("0" * 400), "color must be"),
    ('{"strokes": [{"points": [[%s, 1]], "color": "#ff0000"}]}' % ("1" * 5000), "outside"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_bad_hints_give_422(client, hints, message):
    text = hints if isinstance(hints, str) else json.dumps(hints)
    r = post(client, png_bytes(smooth_photo(40, 60)), model="levin", hints=text)
    assert r.status_code == 422 and message in r.json()["error"], r.text


def test_bad_requests_get_4xx_json_without_traceback(client, caplog, tmp_path):
    caplog.set_level("DEBUG")
    photo = jpeg_bytes(smooth_photo(64, 96))
    cases = [
        (post(client, b"0" * (30 * 2**20), name="huge.png"), 413, "limit"),
        (post(client, b"just some text\n", name="notes.txt"), 415, "not an image"),
        (post(client, b"%PDF-1.4\n" + b"x" * 100, name="doc.pdf"), 415, "not an image"),
        (post(client, b"GIF89a" + b"\0" * 10, name="bad.gif"), 415, "bad.gif"),
        (post(client, photo[: len(photo) // 2], name="cut.jpg"), 422, "truncated"),
        (post(client, b"", name="empty.png"), 422, "empty"),
        (post(client, png_bytes(np.zeros((1500, 1500), np.uint8))), 413, "MP"),
        (post(client, photo, model="nope"), 422, "valid names"),
        (post(client, photo, model="levin"), 422, "needs scribbles"),
        (post(client, photo, saturation="lots"), 422, "saturation"),
        (post(client, photo, size="2"), 422, "size"),
        (client.post("/api/colorize", data={"model": "gray"}), 422, "image"),
        (post(client, photo, url="/api/samples", model="gray"), 422, "sampl"),
        (post(client, photo, url="/api/confidence", model="gray"), 422, "confidence"),
    ]
    im = Image.new("L", (8, 8))
    buf = io.BytesIO()
    im.save(buf, "ICO")
    cases.append((post(client, buf.getvalue(), name="x.ico"), 415, "not supported"))
    for r, status, words in cases:
        assert r.status_code == status, (status, r.text)
        assert words in r.json()["error"], r.text
    assert not [rec for rec in caplog.records if rec.exc_info or "Traceback" in rec.getMessage()]


def test_full_queue_answers_503_with_retry_after():
    app = create_app(ServeConfig(preload=(), workers=1, queue=2))
    with TestClient(app, base_url=LOCAL) as c:
        queue = app.state.queue
        queue.pending = queue.limit  # as if three photos were in the server
        r = post(c, png_bytes(smooth_photo(20, 20)), model="gray")
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"]
        assert c.get("/healthz").json()["pending"] == queue.limit  # GETs still answer
        queue.pending = 0
        assert post(c, png_bytes(smooth_photo(20, 20)), model="gray").status_code == 200
        assert queue.pending == 0  # every admitted request gives its slot back


def test_client_gone_mid_upload_frees_its_slot_without_traceback(caplog):
    import asyncio

    caplog.set_level("DEBUG")
    app = create_app(ServeConfig(preload=()))
    head = (b'--xx\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n\x89PNG" + b"0" * 5000)
    messages = [{"type": "http.request", "body": head, "more_body": True}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/colorize", "raw_path": b"/api/colorize", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"multipart/form-data; boundary=xx"),
                         (b"content-length", b"100000")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and 400 <= sent[0]["status"] < 500
    assert app.state.queue.pending == 0
    assert not [rec for rec in caplog.records if rec.exc_info]


def _asgi_post(app, chunks, headers):
    """POST /api/colorize straight to the ASGI app; returns (status, JSON body, bytes it read)."""
    import asyncio

    pulled = [0]
    sent = []

    async def receive():
        for chunk in chunks:
            pulled[0] += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/colorize", "raw_path": b"/api/colorize", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"multipart/form-data; boundary=xx"),
                         *headers]}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), pulled[0]


def test_only_loopback_host_names_are_answered(client):
    """Another web site can point its own name at 127.0.0.1 (DNS rebinding) and read the answers;
    its requests still name its host, and get 400 before any work."""
    assert client.get("/", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/", headers={"host": "[::1]:8000"}).status_code == 200
    r = client.get("/", headers={"host": "rebind.example:8000"})
    assert r.status_code == 400 and "localhost" in r.json()["error"]
    r = client.post("/api/colorize", headers={"host": "rebind.example"},
                    files={"image": ("a.png", png_bytes(np.zeros((8, 8), np.uint8)), "image/png")})
    assert r.status_code == 400 and client.app.state.queue.pending == 0


def test_serve_host_names():
    assert host_name(b"[::1]:8000") == "::1" and host_name(b"LocalHost:80") == "localhost"
    assert host_name(b"127.0.0.1") == "127.0.0.1" and host_name(None) == ""
    assert set(serve_hosts("127.0.0.1")) == {"127.0.0.1", "localhost", "::1"}
    assert "127.0.0.2" in serve_hosts("127.0.0.2") and "::1" in serve_hosts("[::1]")
    assert serve_hosts("localhost") is not None
    assert serve_hosts("0.0.0.0") is None and serve_hosts("192.168.1.5") is None  # chosen exposure


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"1000")]], ids=["chunked", "lying"])
def test_body_over_the_limit_is_cut_off_while_it_is_read(headers, caplog):
    """Without Content-Length (chunked), or with one that understates the body, the upload is
    still stopped at the limit with 413, without reading the whole body."""
    caplog.set_level("DEBUG")
    app = create_app(ServeConfig(preload=(), max_upload_bytes=2**20))
    head = (b'--xx\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")
    chunk = b"\x89PNG" + b"0" * (2**16 - 4)
    chunks = iter([head] + [chunk] * 640)  # 40 MB, over 1 MB allowed
    status, body, pulled = _asgi_post(app, chunks, headers)
    assert status == 413 and "limit" in body["error"], body
    assert pulled < 16 * 2**20  # cut off (after dropping a bounded amount so the client hears us)
    assert app.state.queue.pending == 0
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_uploads_stay_in_a_temporary_folder_that_is_emptied(monkeypatch, tmp_path, client):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    big = png_bytes((np.random.default_rng(0).random((900, 900, 3)) * 255).astype(np.uint8))
    assert len(big) > 2**20  # large enough that the multipart parser spools it to disk
    assert png_of(post(client, big, model="gray")).size == (900, 900)
    assert post(client, b"text", name="t.txt").status_code == 415
    hints = {"strokes": [{"points": [[5, 5]], "color": "#00ff00"}]}
    small = png_bytes(smooth_photo(30, 40))
    assert post(client, small, model="levin", hints=json.dumps(hints)).status_code == 200
    assert list(scratch.iterdir()) == []


def test_models_list_answers_at_once(client):
    from colorizer.registry import list_colorizers, resolve_name

    quick = client.get("/api/models?load=false").json()["models"]
    assert [m["name"] for m in quick] == list_colorizers()
    assert [m["name"] for m in quick if m["loaded"]] == ["gray"]  # only what was preloaded
    assert [m["name"] for m in quick if m["default"]] == [resolve_name("default")]
    assert next(m for m in quick if m["name"] == "levin")["needs_hints"]
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/models", "/api/colorize", "/api/samples", "/api/confidence", "/healthz"} <= set(paths)


def test_samples_from_the_vae(client):
    import base64

    from colorizer.registry import list_colorizers

    if "vae" not in list_colorizers():
        pytest.skip("no vae registered")
    body = post(client, png_bytes(smooth_photo(36, 52)), url="/api/samples", model="vae", k="3",
                size="32").json()
    assert body["model"] == "vae" and (body["width"], body["height"]) == (52, 36)
    samples = [np.asarray(Image.open(io.BytesIO(base64.b64decode(b)))) for b in body["samples"]]
    assert all(s.shape[:2] == (36, 52) for s in samples)
    assert len({s.tobytes() for s in samples}) == 3  # three different colorizations


def test_denoise_cleans_the_lightness_before_colouring(client):
    """denoise=true: the result keeps the denoised L (as `colorize image --denoise`), with scribbles
    and for samples too; without it, the upload's noisy L."""
    import base64

    from colorizer.damage import add_gaussian_noise, grey_u8
    from colorizer.models.denoise import psnr_u8
    from colorizer.registry import list_colorizers

    clean = grey_u8(srgb_to_l(smooth_photo(64, 96)))
    noisy = png_bytes(add_gaussian_noise(clean, 25, np.random.default_rng(0)))

    def psnr(image) -> float:  # of the result's lightness, against the clean photo's
        return psnr_u8(grey_u8(srgb_to_l(np.asarray(image.convert("RGB")))), clean)

    plain = psnr(png_of(post(client, noisy, model="gray")))
    cleaned_png = png_of(post(client, noisy, model="gray", denoise="true"))
    cleaned = psnr(cleaned_png)
    assert plain < 22 and cleaned > plain + 8, (plain, cleaned)  # measured 20.3 -> 34.7 dB
    # the page cleans a photo as `colorize denoise` does (onnxruntime where its export is fresh)
    from colorizer.io import Picture

    cli, dn = cli_denoised(Picture.from_array(np.asarray(Image.open(io.BytesIO(noisy)))))
    assert np.array_equal(np.asarray(cleaned_png.convert("RGB"))[..., 0], cli.to_array(np.uint8)[..., 0])
    assert type(client.app.state.service.models.denoiser()) is type(dn)
    hints = json.dumps({"strokes": [{"points": [[5, 20], [20, 20]], "color": "#c0392b", "width": 5}]})
    scribbled = psnr(png_of(post(client, noisy, model="gray", hints=hints, denoise="true")))
    assert scribbled > plain + 8, (plain, scribbled)
    if "vae" in list_colorizers():
        body = post(client, noisy, url="/api/samples", model="vae", k="2", size="32",
                    denoise="true").json()
        for b64 in body["samples"]:
            assert psnr(Image.open(io.BytesIO(base64.b64decode(b64)))) > plain + 8
    for url in ("/api/colorize", "/api/samples", "/api/confidence"):
        r = post(client, noisy, url=url, model="gray", denoise="maybe")
        assert r.status_code == 422 and r.json()["error"].startswith("denoise: "), r.text
        assert "\n" not in r.json()["error"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "grain" in schema["Body_colorize_api_colorize_post"]["properties"]["denoise"]["description"]


def test_a_photo_is_cleaned_once_for_every_request_that_sends_it(client, monkeypatch):
    """The page sends the same photo again for each model and for the confidence map: with
    denoise on, the server cleans it once and gives the same cleaned photo each time; another photo
    is cleaned anew; the cache drops its oldest photos past its byte limit."""
    from colorizer import onnx_backend
    from colorizer.damage import add_gaussian_noise
    from colorizer.web.app import CleanedCache

    calls = []
    real = onnx_backend.denoise_any
    monkeypatch.setattr(onnx_backend, "denoise_any", lambda pic, net: calls.append(1) or real(pic, net))
    rng = np.random.default_rng(1)
    noisy = png_bytes(add_gaussian_noise(np.full((40, 56), 120, np.uint8), 25, rng))
    first = np.asarray(png_of(post(client, noisy, model="gray", denoise="true")))
    again = np.asarray(png_of(post(client, noisy, model="gray", denoise="true")))
    assert len(calls) == 1 and np.array_equal(first, again)
    other = png_bytes(add_gaussian_noise(np.full((40, 56), 60, np.uint8), 25, rng))
    post(client, other, model="gray", denoise="true")
    assert len(calls) == 2
    plain = np.asarray(png_of(post(client, noisy, model="gray")))  # off: the upload as sent
    assert len(calls) == 2 and not np.array_equal(plain, first)

    cache = CleanedCache(max_bytes=250)
    for i in range(3):
        cache.put(str(i), np.zeros(100, np.uint8))
    assert cache.get("0") is None and cache.get("1") is not None and cache.get("2") is not None
    cache.put("big", np.zeros(251, np.uint8))  # over the limit alone: not kept, nothing evicted
    assert cache.get("big") is None and cache.get("1") is not None


@pytest.mark.slow  # builds every model (zhang's colour bins take a while on a small CPU)
def test_models_with_cards_and_confidence(client):
    from colorizer.api import confidence_map
    from colorizer.damage import add_gaussian_noise, grey_u8
    from colorizer.io import Picture
    from colorizer.registry import get_colorizer

    models = client.get("/api/models").json()["models"]
    assert all(m["loaded"] or m["error"] for m in models)
    default = next(m for m in models if m["default"])
    assert default["card"] is None or isinstance(default["card"], dict)
    photo = png_bytes(smooth_photo(36, 52))
    grey = grey_u8(srgb_to_l(smooth_photo(48, 64)))
    noisy = add_gaussian_noise(grey, 25, np.random.default_rng(0))
    for m in models:
        if m["confidence"]:
            conf = png_of(post(client, photo, url="/api/confidence", model=m["name"], size="32"))
            assert conf.size == (52, 36)
            # with denoise, the map is of the cleaned photo: the one /api/colorize then colours,
            # cleaned as `colorize denoise` cleans it (onnxruntime where its export is fresh)
            cleaned = cli_denoised(Picture.from_array(noisy))[0]
            want = confidence_map(cleaned, get_colorizer(m["name"]), 32)
            want = (np.clip(want, 0, 1) * 255).astype(np.uint8)
            got = np.asarray(png_of(post(client, png_bytes(noisy), url="/api/confidence", model=m["name"],
                                         size="32", denoise="true")).convert("L")).astype(int)
            assert np.abs(got - want).max() <= 1
            as_is = np.asarray(png_of(post(client, png_bytes(noisy), url="/api/confidence", model=m["name"],
                                           size="32")).convert("L")).astype(int)
            assert np.abs(as_is - got).mean() > 0.5  # grain changes what the model is sure of


def test_cli_serve_help():
    r = CliRunner().invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0 and "--port" in r.output and "127.0.0.1" in r.output


@pytest.mark.slow  # builds every model
def test_models_menu_and_cards_in_plain_words(client):
    from colorizer.cards import history_words

    models = client.get("/api/models").json()["models"]
    assert history_words(json.dumps(models)) == []
    assert all(m["card"] is None or "training" not in m["card"] for m in models)
    trained = [m for m in models if m["card"]]
    assert trained and all(m["card"]["quality"] and m["card"]["licence"] for m in trained)
    html = client.get("/").text  # its words, not its tags and ids (the page test reads the text shown)
    assert history_words(re.sub(r"<[^>]*>", " ", html)) == []


# --- a real server on loopback -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``colorize serve`` on a free loopback port; yields (url, process, log path, temp folder)."""
    import os

    base = tmp_path_factory.mktemp("serve")
    scratch = base / "tmp"
    scratch.mkdir()
    port = load_web.free_port()
    log = base / "server.log"
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = load_web.start_server(port, log, "--queue", "8", env=env)
    yield f"http://127.0.0.1:{port}", proc, log, scratch
    load_web.stop_server(proc)
    print(f"server log: {log}")


@pytest.mark.slow
def test_real_server_refuses_bad_requests_cleanly(server):
    import httpx2

    url, proc, log, scratch = server
    photo = jpeg_bytes(smooth_photo(64, 96))
    with httpx2.Client(base_url=url, timeout=60) as c:
        def send(data, name, **fields):
            return c.post("/api/colorize", files={"image": (name, data, "image/jpeg")}, data=fields)

        assert send(b"\xff" * (30 * 2**20), "huge.jpg").status_code == 413  # a 30 MB upload
        assert send(b"plain text, not a photo\n", "notes.txt").status_code == 415
        r = send(photo[: len(photo) // 2], "cut.jpg")
        assert 400 <= r.status_code < 500 and "truncated" in r.json()["error"]
        hints = {"width": 10, "height": 10, "strokes": [{"points": [[1, 1]], "color": "#ff0000"}]}
        assert send(photo, "ok.jpg", model="levin", hints=json.dumps(hints)).status_code == 422
        r = send(photo, "ok.jpg")
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (96, 64)
    assert proc.poll() is None
    assert "Traceback" not in log.read_text()
    assert list(scratch.iterdir()) == []


@pytest.mark.slow
def test_load_200_requests_from_50_clients(server):
    pytest.importorskip("httpx2")
    url, proc, log, scratch = server
    photo = png_bytes(smooth_photo(48, 64)[..., 0])
    report = load_web.run_load(url, photo, (64, 48), model="default", requests=200, clients=50,
                               pid=proc.pid)
    assert report["problems"] == []
    assert sum(report["statuses"].values()) == 200
    assert set(report["statuses"]) <= {200, 503} and report["statuses"][200] > 0
    if report["rss_warm"]:
        assert report["rss_end"] <= 1.5 * report["rss_warm"]
    assert "Traceback" not in log.read_text()
    assert list(scratch.iterdir()) == []


def _chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's package)")
    return chromium


PIXELS_JS = """([x, y]) => {
  const img = document.getElementById("colour");
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(x - 3, y - 3, 7, 7).data;
  const s = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) { s[0] += d[i]; s[1] += d[i + 1]; s[2] += d[i + 2]; }
  return s.map((v) => v / (d.length / 4));
}"""


#: Records the text fields of every form the page posts, in window.sentForms: [[url, {name: value}]].
RECORD_FORMS_JS = """() => {
  const fetch = window.fetch;
  window.sentForms = [];
  window.fetch = (url, options) => {
    if (options && options.body instanceof FormData) {
      const fields = [...options.body].filter(([, v]) => typeof v === "string");
      window.sentForms.push([url, Object.fromEntries(fields)]);
    }
    return fetch(url, options);
  };
}"""


@pytest.mark.slow
def test_page_in_chromium(server, tmp_path):
    url, proc, log, scratch = server
    width, height = Image.open(SAMPLE).size
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a photo\n")
    shots = {}
    with _open_page(url, tmp_path, ready="#model option") as (page, problems):
        # one place to drop a photo (no dead box above it on a phone), and plain words throughout,
        # the model menu and its cards included
        from colorizer.cards import history_words

        # (the second drop box takes an optional reference photo, below the photo's)
        assert page.locator("#drop").count() == 1 and page.locator("#file").count() == 1
        assert page.locator(".drop").count() == 2 and page.locator("input[type=file]").count() == 2
        page.set_viewport_size({"width": 390, "height": 844})
        drop = page.locator("#drop").bounding_box()
        assert drop["y"] < 844 / 2, drop  # the drop box is what a phone shows first
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_selector("#model-info details", state="attached")  # the cards have come
        assert history_words(page.evaluate("document.body.textContent")) == []

        # upload a photo; the colour image comes back at the upload's size
        page.set_input_files("#file", str(SAMPLE))
        page.wait_for_selector("#colour[data-seq='1']", state="attached")
        size = page.evaluate("[document.getElementById('colour').naturalWidth, "
                             "document.getElementById('colour').naturalHeight]")
        assert size == [width, height]
        assert page.locator("#error").is_hidden()

        # paint a blue stroke, re-colorize from the scribbles, and see blue where it was painted
        x0, x1, y = int(width * 0.30), int(width * 0.45), int(height * 0.5)
        before = page.evaluate(PIXELS_JS, [(x0 + x1) // 2, y])
        page.check("#paint")
        page.fill("#brush-color", "#1e5bd6")
        page.select_option("#scribble-mode", "levin")
        _paint_stroke(page, width, height, x0, x1, y)
        page.click("#apply-scribbles")
        page.wait_for_selector("#colour[data-seq='2']", state="attached")
        after = page.evaluate(PIXELS_JS, [(x0 + x1) // 2, y])
        assert after[2] > after[0] + 25 and after[2] - before[2] > 15, (before, after)
        page.uncheck("#paint")

        # "clean up grain and noise first": ticking it re-colorizes (as the other options do), the
        # request carries denoise=true, and the "before" side stays the upload
        tick_and_recolour(page, "denoise", 3)
        assert page.locator("label.check:has(#denoise)").inner_text().strip() == \
            "Clean up grain and noise first"
        shots["desktop"] = tmp_path / "page-desktop.png"
        page.screenshot(path=str(shots["desktop"]), full_page=True)

        # download the result
        with page.expect_download() as info:
            page.click("#download")
        saved = tmp_path / "download.png"
        info.value.save_as(saved)
        assert Image.open(saved).size == (width, height)

        def seq() -> int:
            return int(page.get_attribute("#colour", "data-seq"))

        # alternatives from a model that samples, as thumbnails; choosing one shows it
        if not page.is_disabled("#samples"):
            page.fill("#samples-k", "2")
            page.click("#samples")
            page.wait_for_selector("#thumbs button:nth-child(2)")
            n = seq()
            page.click("#thumbs button:nth-child(2)")
            page.wait_for_selector(f"#colour[data-seq='{n + 1}']", state="attached")
            assert page.get_attribute("#thumbs button:nth-child(2)", "aria-pressed") == "true"

        # the confidence map of a model that gives one
        models = page.evaluate("async () => (await (await fetch('/api/models')).json()).models")
        confident = [m["name"] for m in models if m["confidence"]]
        if confident:
            n = seq()
            page.select_option("#model", confident[0])
            page.wait_for_selector(f"#colour[data-seq='{n + 1}']", state="attached")
            page.check("#confidence")
            page.wait_for_selector("#conf:not([hidden])", state="attached")
            page.wait_for_timeout(200)  # the map's <img> decodes
            conf_size = page.evaluate("() => [document.getElementById('conf').naturalWidth, "
                                      "document.getElementById('conf').naturalHeight]")
            assert conf_size == [width, height]
            legend = page.locator("#conf-legend")  # beside the map: what its shades mean
            assert legend.is_visible() and "dark" in legend.inner_text() and "light" in legend.inner_text()
            shots["confidence"] = tmp_path / "page-confidence.png"
            page.screenshot(path=str(shots["confidence"]))
            # the map is of the photo that is coloured: cleaned while "clean up" is ticked, and
            # fetched again for the upload as it is once the box is cleared
            sent = [form for u, form in page.evaluate("window.sentForms") if u == "/api/confidence"]
            assert sent and sent[-1].get("denoise") == "true", sent
            with page.expect_response(lambda r: r.url.endswith("/api/confidence")):
                page.uncheck("#denoise")
            sent = [form for u, form in page.evaluate("window.sentForms") if u == "/api/confidence"]
            assert "denoise" not in sent[-1], sent
            page.wait_for_selector("#conf:not([hidden])", state="attached")

        # phone width: the page still fits
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shots["phone"] = tmp_path / "page-phone.png"
        page.screenshot(path=str(shots["phone"]), full_page=True)

        # after Colorize, the result is in view, on a phone (where it sits above the controls) and
        # on a desktop
        for w, h in ((390, 844), (1280, 900)):
            page.set_viewport_size({"width": w, "height": h})
            page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            n = seq()
            page.click("#colorize")  # Playwright scrolls to the button first, as a finger would
            page.wait_for_selector(f"#colour[data-seq='{n + 1}']", state="attached")
            page.wait_for_timeout(1000)  # the smooth scroll
            top, bottom = page.evaluate("[document.getElementById('stage').getBoundingClientRect().top, "
                                        "document.getElementById('stage').getBoundingClientRect().bottom]")
            assert -1 <= top and bottom <= h + 1, (w, top, bottom)  # (sub-pixel layout)
            shots[f"after Colorize, {w} px"] = tmp_path / f"page_{w}.png"
            page.screenshot(path=str(shots[f"after Colorize, {w} px"]))
            if page.is_checked("#confidence"):  # the colours themselves, beside the map's shot
                page.uncheck("#confidence")
                page.wait_for_timeout(200)
                shots[f"colours, {w} px"] = tmp_path / f"page_{w}_colour.png"
                page.screenshot(path=str(shots[f"colours, {w} px"]))
                page.check("#confidence")
                page.wait_for_selector("#conf:not([hidden])", state="attached")

        # a text file: the server's message is shown on the page
        page.set_viewport_size({"width": 1280, "height": 900})
        page.set_input_files("#file", str(text_file))
        page.wait_for_selector("#error:not([hidden])")
        assert "not an image" in page.inner_text("#error")
        shots["error"] = tmp_path / "page-error.png"
        page.screenshot(path=str(shots["error"]))
        assert problems == []
    for name, path in shots.items():
        print(f"screenshot ({name}): {path}", file=sys.stderr)
    assert "Traceback" not in log.read_text()


@contextmanager
def _open_page(url: str, tmp_path: Path, ready: str = "#model option[value=gray]"):
    """The page in headless Chromium, once ``ready`` (a selector: the page's CSP rightly forbids the
    eval behind wait_for_function) is there; yields (page, problems): JS errors, console errors and
    any request that leaves the server."""
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            accept_downloads=True, viewport={"width": 1280, "height": 900})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            problems = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" and "Failed to load resource" not in msg.text else None)
            page.on("request", lambda req: problems.append(f"outside request: {req.url}")
                    if not req.url.startswith((url, "data:", "blob:")) else None)
            page.set_default_timeout(180_000)  # a busy CI machine can be slow
            page.goto(url + "/")
            page.wait_for_selector(ready, state="attached")
            yield page, problems
        finally:
            context.close()


def _paint_stroke(page, photo_w: int, photo_h: int, x0: float, x1: float, y: float) -> None:
    """Drag the mouse across the scribble layer, in the photo's pixels (scrolled into view first, as
    a user would: on a phone the controls below the picture can push it off the screen)."""
    page.locator("#scribbles").scroll_into_view_if_needed()
    box = page.locator("#scribbles").bounding_box()
    sx, sy = box["width"] / photo_w, box["height"] / photo_h
    page.mouse.move(box["x"] + x0 * sx, box["y"] + y * sy)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + (x0 + (x1 - x0) * k / 10) * sx, box["y"] + y * sy)
    page.mouse.up()


def test_evaluation_report_summary_is_an_html_table(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(2):
        Image.fromarray(smooth_photo(40, 50, seed=i)).save(src / f"p{i}.png")
    out = tmp_path / "report"
    r = CliRunner().invoke(cli, ["evaluate", "--images", str(src), "--size", "32", "--out", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "report.html").read_text()
    assert "<pre>" not in page and "<table class='scores'>" in page
    from colorizer.evaluate import METRICS

    assert page.count("<tr>") == 1 + len(METRICS) and "<th scope='col'>gray</th>" in page
    assert "--accent" in page  # the web page's look, inlined
    assert not re.search(r"""(src|href|url)\s*[=(]\s*['"]?(https?:)?//""", page)  # nothing external


def _report(tmp_path: Path) -> Path:
    """A small evaluation report of a landscape (3:2) and a portrait (2:3) photo; its folder."""
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(smooth_photo(60, 90, seed=1)).save(src / "landscape.png")
    Image.fromarray(smooth_photo(90, 60, seed=2)).save(src / "portrait.png")
    out = tmp_path / "report"
    r = CliRunner().invoke(cli, ["evaluate", "--images", str(src), "--size", "48", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_evaluation_report_shows_the_plot_and_each_photo_in_its_shape(tmp_path):
    import base64

    out = _report(tmp_path)
    page = (out / "report.html").read_text()
    images = re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']+)'>", page)
    plot = [data for alt, data in images if "metric" in alt]
    assert plot and base64.b64decode(plot[0]) == (out / "bars.png").read_bytes()  # bars.png is shown
    sections = re.findall(r"<h3>(\w+)\.png</h3>(.*?)</section>", page, re.S)
    assert [name for name, _ in sections] == ["landscape", "portrait"]
    for name, section in sections:
        sizes = {Image.open(io.BytesIO(base64.b64decode(data))).size
                 for data in re.findall(r"base64,([^']+)'", section)}
        assert sizes == ({(48, 32)} if name == "landscape" else {(32, 48)}), (name, sizes)  # no squash


def test_evaluation_report_uses_the_window_width(tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    out = _report(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((out / "report.html").as_uri())
            right = page.evaluate("Math.max(...[...document.querySelectorAll('.tile, figure')].map("
                                  "(e) => e.getBoundingClientRect().right))")
            assert right > 0.9 * 1280, right  # not a column down the left half
            plot = page.locator("figure img").bounding_box()
            assert plot["width"] > 400 and page.locator("figure img").is_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # a phone too
        finally:
            browser.close()


def _clip(path: Path, frames: int = 6) -> Path:
    av = pytest.importorskip("av", reason="colorize video needs PyAV")
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    mux_frames(out, stream, [np.roll(smooth_photo(48, 64), 2 * i, axis=1) for i in range(frames)])
    out.close()
    return path


def test_video_job_start_poll_download(client, tmp_path):
    import time

    av = pytest.importorskip("av", reason="colorize video needs PyAV")
    if "/api/video" not in client.get("/openapi.json").json()["paths"]:
        pytest.skip("colorize video is not installed")
    clip = _clip(tmp_path / "clip.mp4")

    def send(data, name, **fields):
        return client.post("/api/video", files={"video": (name, data, "video/mp4")}, data=fields)

    assert send(b"not a video", "notes.txt").status_code == 415
    assert send(b"\0" * 1000, "broken.mp4").status_code == 415
    r = send(clip.read_bytes(), "my clip.mp4", model="gray")
    assert r.status_code == 202, r.text
    status_url = r.json()["status_url"]
    deadline = time.monotonic() + 120
    while (job := client.get(status_url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "done" and job["frames_done"] == 6, job
    r = client.get(job["result"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert "my_clip_color.mp4" in r.headers["content-disposition"]
    result = tmp_path / "result.mp4"
    result.write_bytes(r.content)
    with av.open(str(result)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3)
    assert client.get(status_url).status_code == 404  # its files went with the download


def test_video_result_is_deleted_only_after_a_whole_download(tmp_path):
    """A Range request and a download the client leaves mid-way keep the result; the first whole
    GET gets it, then it is gone."""
    import asyncio
    import time

    clip = _clip(tmp_path / "clip.mp4", frames=2).read_bytes()
    with TestClient(create_app(ServeConfig(preload=())), base_url=LOCAL) as c:
        if "/api/video" not in c.get("/openapi.json").json()["paths"]:
            pytest.skip("colorize video is not installed")
        r = c.post("/api/video", files={"video": ("clip.mp4", clip, "video/mp4")}, data={"model": "gray"})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while (job := c.get(r.json()["status_url"]).json())["status"] != "done":
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.05)
        url = job["result"]
        part = c.get(url, headers={"range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100

        sent = []

        async def leave_at_once():
            return {"type": "http.disconnect"}

        async def slow_send(message):
            sent.append(message["type"])
            await asyncio.sleep(0.2)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": url, "raw_path": url.encode(), "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
                 "headers": [(b"host", b"127.0.0.1:8000")]}
        asyncio.run(c.app(scope, leave_at_once, slow_send))
        assert "http.response.start" in sent  # the answer began, then the client left

        async def two_at_once():
            """A second download while the first is going out gets 409, not a 500 when the
            first one's end deletes the file under it."""
            gate, never, statuses = asyncio.Event(), asyncio.Event(), {}

            async def stay():  # the client is there until the second download is done
                await gate.wait()
                return {"type": "http.disconnect"}

            def sender(name, stall):
                async def send(message):
                    if message["type"] == "http.response.start":
                        statuses[name] = message["status"]
                    elif stall:  # the first download's bytes never get through: it is cut off
                        await never.wait()
                return send

            async def second():
                await asyncio.sleep(0.1)
                await c.app(scope, stay, sender("second", False))
                gate.set()

            await asyncio.gather(c.app(scope, stay, sender("first", True)), second())
            return statuses

        assert asyncio.run(two_at_once()) == {"first": 200, "second": 409}

        whole = c.get(url)
        assert whole.status_code == 200 and whole.content[:100] == part.content
        assert c.get(url).status_code == 404


def test_video_longer_than_the_frame_limit_gets_413(tmp_path):
    clip = _clip(tmp_path / "clip.mp4", frames=6).read_bytes()
    with TestClient(create_app(ServeConfig(preload=(), max_video_frames=5)), base_url=LOCAL) as c:
        if "/api/video" not in c.get("/openapi.json").json()["paths"]:
            pytest.skip("colorize video is not installed")
        r = c.post("/api/video", files={"video": ("clip.mp4", clip, "video/mp4")}, data={"model": "gray"})
        assert r.status_code == 413 and "6 frames, over the limit of 5" in r.json()["error"], r.text


def test_failed_video_jobs_do_not_hold_the_job_slots(monkeypatch, tmp_path):
    """A job that failed has nothing to download: it must not count against max_video_jobs (it
    used to, blocking new videos with 503 for an hour), and its folder goes at once."""
    import tempfile
    import time

    pytest.importorskip("av", reason="colorize video needs PyAV")
    import colorizer.video
    from colorizer.errors import ColorizerError

    def broken(src, *args, **kwargs):
        raise ColorizerError(f"{src}: frame 3 is corrupt")

    monkeypatch.setattr(colorizer.video, "colorize_video", broken)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    clip = _clip(tmp_path / "clip.mp4", frames=2).read_bytes()
    with TestClient(create_app(ServeConfig(preload=(), max_video_jobs=1)), base_url=LOCAL) as c:
        if "/api/video" not in c.get("/openapi.json").json()["paths"]:
            pytest.skip("colorize video is not installed")
        for _ in range(3):
            r = c.post("/api/video", files={"video": ("clip.mp4", clip, "video/mp4")}, data={"model": "gray"})
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 60
            while (job := c.get(r.json()["status_url"]).json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.05)
            assert job["status"] == "error" and "clip.mp4: frame 3 is corrupt" in job["error"], job
            assert list(scratch.iterdir()) == []


def test_video_job_limit_holds_for_uploads_that_arrive_together(monkeypatch, tmp_path):
    """Two uploads checked at the same moment (``--workers`` > 1) must not both take the last slot."""
    import threading
    from types import SimpleNamespace

    pytest.importorskip("av", reason="colorize video needs PyAV")
    import colorizer.video
    from colorizer.web.app import WebError
    from colorizer.web.jobs import VideoJobs

    monkeypatch.setattr(colorizer.video, "colorize_video", lambda *a, **k: SimpleNamespace(frames=2))
    clip = _clip(tmp_path / "clip.mp4", frames=2).read_bytes()
    jobs = VideoJobs(max_jobs=1)
    both_in = threading.Barrier(2, timeout=3)

    def get_model(name):  # as slow as a first model load: both uploads are past the slot check
        try:
            both_in.wait()
        except threading.BrokenBarrierError:
            pass
        return SimpleNamespace(name=name)

    results = []

    def submit():
        upload = SimpleNamespace(filename="clip.mp4", file=io.BytesIO(clip))
        try:
            results.append(jobs.submit(upload, get_model, "gray", 1.0, None, WebError).id)
        except WebError as exc:
            results.append(exc.status)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(results) == 2 and results.count(503) == 1, results
    finally:
        jobs.close()


def test_closing_the_server_ends_a_running_video_job(monkeypatch, tmp_path):
    """Ctrl-C on `colorize serve` left the process alive until a running clip was done (Python
    waits for the worker thread): close() now sets the job's stop event, which colorize_video
    checks at every frame (tests/test_video.py checks that side)."""
    import threading
    import time
    from types import SimpleNamespace

    pytest.importorskip("av", reason="colorize video needs PyAV")
    import colorizer.video
    from colorizer.errors import ColorizerError
    from colorizer.web.app import WebError
    from colorizer.web.jobs import VideoJobs

    running = threading.Event()

    def endless(src, dst, model, stop=None, **kwargs):  # a clip that would take long
        running.set()
        if stop is None or not stop.wait(20):
            raise AssertionError("not stopped")
        raise ColorizerError(f"{src}: stopped after 7 frames; nothing was written")

    monkeypatch.setattr(colorizer.video, "colorize_video", endless)
    jobs = VideoJobs(max_jobs=1)
    clip = _clip(tmp_path / "clip.mp4", frames=2).read_bytes()
    job = jobs.submit(SimpleNamespace(filename="clip.mp4", file=io.BytesIO(clip)),
                      lambda name: SimpleNamespace(name=name), "gray", 1.0, None, WebError)
    assert running.wait(30)
    jobs.close()
    deadline = time.monotonic() + 10
    while job.status != "error":
        assert time.monotonic() < deadline, job.report()
        time.sleep(0.02)
    assert job.error == "clip.mp4: stopped after 7 frames; nothing was written"
    assert not job.folder.exists()


@pytest.mark.slow
def test_page_saturation_after_clearing_scribbles(server, tmp_path):
    """Scribbles applied, then cleared: moving the saturation slider re-colorizes the photo (it
    used to only say "Paint some scribbles on the photo first")."""
    url = server[0]
    width, height = Image.open(SAMPLE).size
    with _open_page(url, tmp_path) as (page, problems):
        page.select_option("#model", "gray")
        page.set_input_files("#file", str(SAMPLE))
        page.wait_for_selector("#colour[data-seq='1']", state="attached")
        page.check("#paint")
        page.select_option("#scribble-mode", "model")
        _paint_stroke(page, width, height, width * 0.3, width * 0.45, height * 0.5)
        page.click("#apply-scribbles")
        page.wait_for_selector("#colour[data-seq='2']", state="attached")
        page.click("#clear")
        page.fill("#saturation", "0.5")
        page.wait_for_selector("#colour[data-seq='3']", state="attached", timeout=30_000)
        assert page.locator("#error").is_hidden(), page.inner_text("#error")
        assert problems == []


@pytest.mark.slow
def test_page_widest_brush_on_a_large_photo_on_a_phone(server, tmp_path):
    """The brush slider is in screen pixels; on a photo far larger than the screen its width in the
    photo's pixels must stay within what the server takes (it gave 'wider than 1000 pixels')."""
    url = server[0]
    width, height = 6400, 1000
    photo = tmp_path / "wide.png"
    Image.fromarray(np.full((height, width), 120, np.uint8)).save(photo)
    with _open_page(url, tmp_path) as (page, problems):
        page.set_viewport_size({"width": 390, "height": 844})
        page.select_option("#model", "gray")
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#colour[data-seq='1']", state="attached")
        page.check("#paint")
        page.select_option("#scribble-mode", "model")
        page.fill("#brush-size", "60")
        _paint_stroke(page, width, height, width * 0.2, width * 0.6, height * 0.5)
        page.click("#apply-scribbles")
        page.wait_for_selector("#colour[data-seq='2'], #error:not([hidden])", state="attached")
        assert page.locator("#error").is_hidden(), page.inner_text("#error")
        assert problems == []


def test_page_brush_limit_is_the_servers():
    from colorizer.web.app import MAX_HINT_WIDTH

    js = (STATIC / "app.js").read_text()
    assert int(re.search(r"const MAX_BRUSH = (\d+);", js).group(1)) == MAX_HINT_WIDTH


@pytest.mark.slow
def test_page_lets_go_of_replaced_alternatives(server, tmp_path):
    """Each set of alternatives is k full-size PNGs held by blob: URLs; asking again (or choosing a
    new photo) must free the old set, or a long session keeps every one in memory."""
    import time

    url = server[0]
    with _open_page(url, tmp_path) as (page, problems):
        page.select_option("#model", "gray")
        page.set_input_files("#file", str(SAMPLE))
        page.wait_for_selector("#colour[data-seq='1']", state="attached")
        if page.is_disabled("#samples"):
            pytest.skip("no model here samples")
        page.fill("#samples-k", "2")
        srcs = "() => [...document.querySelectorAll('#thumbs img')].map((i) => i.src)"
        loads = """async (urls) => Promise.all(urls.map((u) => new Promise((done) => {
          const img = new Image();
          img.onload = () => done(true);
          img.onerror = () => done(false);
          img.src = u;
        })))"""
        old = []
        for _ in range(2):
            page.click("#samples")
            deadline = time.monotonic() + 120
            while len(new := page.evaluate(srcs)) != 2 or set(new) & set(old):
                assert time.monotonic() < deadline, new
                time.sleep(0.1)
            if old:
                assert page.evaluate(loads, old) == [False, False]  # freed
            assert page.evaluate(loads, new) == [True, True]
            old = new
        other = tmp_path / "other.jpg"  # (the same file again would not fire a change)
        shutil.copy(SAMPLE, other)
        page.set_input_files("#file", str(other))
        page.wait_for_selector("#colour[data-seq='2']", state="attached")
        assert page.evaluate(loads, old) == [False, False]
        assert problems == []


def test_retry_after_is_estimated_from_the_work_not_the_wait():
    """Retry-After comes from the recent time per job; timing a job from when it was queued counted
    every wait before it too, so the estimate grew with the queue (capped at a minute)."""
    import asyncio
    import time

    from colorizer.web.app import WorkQueue

    queue = WorkQueue(workers=1, queue=20)

    async def main():
        await asyncio.gather(*(queue.run(time.sleep, 0.05) for _ in range(20)))

    try:
        asyncio.run(main())
    finally:
        queue.executor.shutdown()
    assert queue._job_seconds < 0.2, queue._job_seconds  # each job took 0.05 s (from 1 s at start)
    queue.pending = 10
    assert queue.retry_after() == 1


# --- a reference photo -------------------------------------------------------------------------


def test_reference_photo_colours_matching_parts_and_scribbles_correct_it(client):
    photo = png_bytes(grey_of(sky_over_grass(80, 120, 36, flip=True)))
    ref = ("ref.jpg", jpeg_bytes(sky_over_grass(96, 140, 48)), "image/jpeg")

    def send(**fields):
        return client.post("/api/colorize", files={"image": ("photo.png", photo, "image/png"),
                                                   "reference": ref}, data=fields)

    out = np.asarray(png_of(send(model="gray")), int)
    assert out[10:30, :, 2].mean() > out[10:30, :, 0].mean() + 30  # the sky's blue
    hints = {"width": 120, "height": 80,
             "strokes": [{"points": [[10, 10], [40, 10]], "color": "#c0392b", "width": 5}]}
    out = np.asarray(png_of(send(model="gray", hints=json.dumps(hints))), int)
    assert out[10, 25, 0] > out[10, 25, 2] + 30  # red where painted, on top of the reference
    # a stroke fills the object it touches (the even sky), and the grass keeps the reference's green
    assert out[50:80, :, 1].mean() > out[50:80, :, 0].mean() + 20
    ref = ("grey.png", png_bytes(grey_of(sky_over_grass(64, 64, 32))), "image/png")
    r = send(model="gray")
    assert r.status_code == 422 and "grey" in r.json()["error"]


@pytest.mark.slow
def test_reference_photo_on_the_page_in_chromium(server, tmp_path):
    url, proc, log, scratch = server
    photo, ref = tmp_path / "old.png", tmp_path / "colour.jpg"
    Image.fromarray(grey_of(sky_over_grass(120, 180, 50, flip=True))).save(photo)
    Image.fromarray(sky_over_grass(150, 200, 75)).save(ref)
    with _open_page(url, tmp_path) as (page, problems):
        page.select_option("#model", "gray")
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#colour[data-seq='1']", state="attached")
        grey_top = page.evaluate(PIXELS_JS, [90, 20])
        assert abs(grey_top[2] - grey_top[0]) < 5
        page.evaluate(RECORD_FORMS_JS)
        page.set_input_files("#reference", str(ref))  # a new reference colours the photo again
        page.wait_for_selector("#colour[data-seq='2']", state="attached")
        assert page.locator("#error").is_hidden(), page.inner_text("#error")
        top = page.evaluate(PIXELS_JS, [90, 20])
        assert top[2] > top[0] + 30, top  # the reference's sky
        assert "colour.jpg" in page.inner_text("#reference-name")
        # scribbles and the reference together
        page.check("#paint")
        page.fill("#brush-color", "#c0392b")
        page.select_option("#scribble-mode", "model")
        _paint_stroke(page, 180, 120, 20, 60, 20)
        page.click("#apply-scribbles")
        page.wait_for_selector("#colour[data-seq='3']", state="attached")
        # the stroke fills the object it touches (the even sky); the grass keeps the reference's green
        painted, grass = page.evaluate(PIXELS_JS, [40, 20]), page.evaluate(PIXELS_JS, [150, 120])
        assert painted[0] > painted[2] + 30 and grass[1] > grass[0] + 20, (painted, grass)
        page.screenshot(path=str(tmp_path / "page-reference.png"), full_page=True)
        # removing the reference goes back to the model's own colours
        page.uncheck("#paint")
        page.click("#reference-clear")
        page.wait_for_selector("#colour[data-seq='4']", state="attached")
        assert problems == []
    print(f"screenshot (reference): {tmp_path / 'page-reference.png'}", file=sys.stderr)
    assert "Traceback" not in log.read_text()


# --- repairing scratches and dust --------------------------------------------------------------


def tick_and_recolour(page, box: str, seq: int) -> None:
    """Tick the switch ``#box`` on the page: it colours the photo again (result number ``seq``)
    with one /api/colorize request whose form field ``box`` is "true", without an error, and the
    "before" side stays the upload."""
    grey_src = page.get_attribute("#grey", "src")
    page.evaluate(RECORD_FORMS_JS)  # (Chromium does not show Playwright a body with a file in it)
    page.check(f"#{box}")
    page.wait_for_selector(f"#colour[data-seq='{seq}']", state="attached")
    sent = page.evaluate("window.sentForms")
    assert [url for url, _ in sent] == ["/api/colorize"] and sent[0][1][box] == "true", sent
    assert page.locator("#error").is_hidden(), page.inner_text("#error")
    assert page.get_attribute("#grey", "src") == grey_src


def scratched_photo(h: int, w: int, width: int = 3) -> np.ndarray:
    """A flat mid-grey photo with a bright scratch across it, ``width`` rows from h/2 - 1."""
    photo = np.full((h, w), 120, np.uint8)
    photo[h // 2 - 1:h // 2 - 1 + width] = 250
    return photo


def library_repaired(data: bytes, folder: Path):
    """(the upload read as the CLI reads it, then repaired as `colorize image --restore` repairs it,
    the mask of what was filled)."""
    from colorizer.io import read_image
    from colorizer.repair import Restorer, default_config, restore_picture

    path = folder / "upload.png"
    path.write_bytes(data)
    return restore_picture(read_image(path), Restorer(), default_config())


def test_restore_repairs_as_the_library_does_before_colouring(client, tmp_path):
    """restore=true: the photo is repaired by restore_picture (as `colorize image --restore`), then
    denoised if asked, then coloured; /api/damage gives what was filled, white on black, at the
    photo's size. (The same pixels whatever the shipped detector finds; what it finds is
    tests/test_restore.py's business.)"""
    from colorizer.api import colorize_picture
    from colorizer.registry import get_colorizer

    gray = get_colorizer("gray")
    data = png_bytes(scratched_photo(48, 72))
    fixed, mask = library_repaired(data, tmp_path)
    got = np.asarray(png_of(post(client, data, model="gray", restore="true")))
    assert np.array_equal(got, colorize_picture(fixed, gray).to_array(np.uint8))
    got = np.asarray(png_of(post(client, data, model="gray", restore="true", denoise="true")))
    assert np.array_equal(got, colorize_picture(cli_denoised(fixed)[0], gray).to_array(np.uint8))

    r = post(client, data, url="/api/damage")
    shown = png_of(r)
    assert shown.size == (72, 48)
    assert np.array_equal(np.asarray(shown.convert("L")), mask.astype(np.uint8) * 255)
    assert int(r.headers["x-repaired-pixels"]) == int(mask.sum())
    assert r.headers["content-disposition"] == 'inline; filename="photo_damage.png"'

    # a colour photo with transparency: repaired as the library does, alpha kept, mask at its size
    rgba = np.dstack([smooth_photo(40, 56), np.full((40, 56), 200, np.uint8)])
    rgba[20:22, :, :3] = 250
    data = png_bytes(rgba)
    fixed, mask = library_repaired(data, tmp_path)
    got = png_of(post(client, data, model="gray", restore="true"))
    assert got.mode == "RGBA"
    assert np.array_equal(np.asarray(got), colorize_picture(fixed, gray).to_array(np.uint8))
    assert png_of(post(client, data, url="/api/damage")).size == (56, 40)


def test_a_photo_is_repaired_once_and_before_the_denoise(client, monkeypatch):
    """With a stand-in detector that finds the bright line: restore=true fills it before colouring
    (and before the denoise), /api/damage shows it white, and the photo is looked at once for
    every request that sends it; repaired or not and denoised or not are kept apart."""
    import base64

    from colorizer.registry import list_colorizers
    from colorizer.repair import Restorer

    calls = []
    monkeypatch.setattr(Restorer, "probability",
                        lambda self, grey: calls.append(1) or (grey > 200).astype(np.float32))
    data = png_bytes(scratched_photo(48, 72))  # the scratch: rows 23 to 25
    plain = np.asarray(png_of(post(client, data, model="gray")), int)
    fixed = np.asarray(png_of(post(client, data, model="gray", restore="true")), int)
    assert plain[24].min() > 240 and np.abs(fixed[20:29] - 120).max() <= 3, fixed[20:29, 0]
    mask = np.asarray(png_of(post(client, data, url="/api/damage")).convert("L"))
    assert (mask[23:26] == 255).all() and (mask[:20] == 0).all() and (mask[29:] == 0).all()
    both = np.asarray(png_of(post(client, data, model="gray", restore="true", denoise="true")), int)
    assert np.abs(both[20:29] - 120).max() <= 3
    denoised = np.asarray(png_of(post(client, data, model="gray", denoise="true")), int)
    assert denoised[24].mean() > 200  # not repaired: the denoised photo of the upload as sent
    again = np.asarray(png_of(post(client, data, model="gray", restore="true", denoise="true")), int)
    assert np.array_equal(again, both)
    if "vae" in list_colorizers():
        body = post(client, data, url="/api/samples", model="vae", k="2", size="32", restore="true").json()
        for b64 in body["samples"]:
            sample = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))
            assert np.abs(srgb_to_l(sample)[20:29] - srgb_to_l(fixed.astype(np.uint8))[20:29]).max() < 1
    assert len(calls) == 1  # one look at the photo for every request that repaired it


def test_damage_and_restore_refuse_bad_input_as_the_other_endpoints_do(client, caplog):
    caplog.set_level("DEBUG")
    photo = jpeg_bytes(smooth_photo(64, 96))
    uploads = [(b"0" * (30 * 2**20), "huge.png", 413), (b"just some text\n", "notes.txt", 415),
               (photo[: len(photo) // 2], "cut.jpg", 422), (b"", "empty.png", 422),
               (png_bytes(np.zeros((1500, 1500), np.uint8)), "many.png", 413)]
    for data, name, status in uploads:
        r = post(client, data, name=name, url="/api/damage")
        same = post(client, data, name=name, model="gray", restore="true")
        assert r.status_code == same.status_code == status, (name, r.text, same.text)
        assert r.json() == same.json(), (r.text, same.text)
    r = client.post("/api/damage", data={})
    assert r.status_code == 422 and r.json()["error"].startswith("image: "), r.text
    for url in ("/api/colorize", "/api/samples", "/api/confidence"):
        r = post(client, photo, url=url, model="gray", restore="maybe")
        assert r.status_code == 422 and r.json()["error"].startswith("restore: "), r.text
        assert "\n" not in r.json()["error"]
    assert not [rec for rec in caplog.records if rec.exc_info or "Traceback" in rec.getMessage()]
    api = client.get("/openapi.json").json()
    assert "/api/damage" in api["paths"]
    assert "scratches" in api["components"]["schemas"]["Body_colorize_api_colorize_post"]["properties"][
        "restore"]["description"]


#: The share of white pixels (over 200) in each row of the "what was repaired" image.
WHITE_ROWS_JS = """async () => {
  const img = document.getElementById("damage");
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const rows = [];
  for (let y = 0; y < c.height; y++) {
    let n = 0;
    for (let x = 0; x < c.width; x++) n += d[4 * (y * c.width + x)] > 200 ? 1 : 0;
    rows.push(n / c.width);
  }
  return [c.width, c.height, rows];
}"""


@pytest.mark.slow
def test_page_repairs_scratches_and_shows_where_in_chromium(server, tmp_path):
    """"Repair scratches and dust": ticking it colours the photo again with restore=true (the
    "before" side stays the upload), and "Show what was repaired" shows, right of the divider,
    white where the scratch was filled; unticking the repair takes that view away."""
    url, proc, log, scratch = server
    photo = tmp_path / "scratched.png"
    # the scratch: rows 59 and 60 (the shipped detector takes a straight 3-pixel bar on a flat
    # photo for a stroke of lettering about as often as for a scratch)
    Image.fromarray(scratched_photo(120, 180, width=2)).save(photo)
    with _open_page(url, tmp_path) as (page, problems):
        assert page.locator("label.check:has(#restore)").inner_text().strip() == "Repair scratches and dust"
        page.select_option("#model", "gray")
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#colour[data-seq='1']", state="attached")
        assert page.is_disabled("#show-damage")  # nothing is repaired yet
        tick_and_recolour(page, "restore", 2)
        assert "scratches and dust repaired" in page.inner_text("#status")

        page.check("#show-damage")
        page.wait_for_selector("#damage:not([hidden])", state="attached")
        width, height, white = page.evaluate(WHITE_ROWS_JS)
        assert (width, height) == (180, 120)
        assert min(white[59:61]) > 0.9, white[55:66]  # the scratch, white
        assert sum(white) / height < 0.1  # and black elsewhere (not an all-white picture)
        assert [u for u, _ in page.evaluate("window.sentForms")][-1] == "/api/damage"
        assert page.inner_text("#after-tag") == "repaired"
        legend = page.locator("#damage-legend")
        assert legend.is_visible() and "white: repaired" in legend.inner_text()
        assert "of the photo was repaired" in page.inner_text("#damage-amount")
        page.screenshot(path=str(tmp_path / "page-repaired.png"), full_page=True)

        page.uncheck("#restore")  # the view goes with the repair
        page.wait_for_selector("#colour[data-seq='3']", state="attached")
        assert page.locator("#damage").is_hidden() and page.locator("#damage-legend").is_hidden()
        assert page.is_disabled("#show-damage") and not page.is_checked("#show-damage")
        assert "restore" not in page.evaluate("window.sentForms")[-1][1]
        assert problems == []
    print(f"screenshot (repaired): {tmp_path / 'page-repaired.png'}", file=sys.stderr)
    assert "Traceback" not in log.read_text()
