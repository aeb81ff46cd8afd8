"""Finding and repairing scratches, cracks, dust, hairs and small tears in scanned photos.

Detection: a small U-Net (:class:`colorizer.models.damage_net.DamageNet`) gives each pixel of
the photo's 8-bit grey a probability of being damage. It was trained on clean photos with damage
drawn on them (:func:`colorizer.damage.draw_defects`: curved lines and straight film scratches
of both polarities, jagged cracks, hairs, dust specks, blotches and torn corners, with soft
edges), so that it tells a scratch from a lamp post, a white collar, a branch or the text on a
sign by their context. Pixels above ``threshold`` are sure damage; the mask grows from them into
pixels above ``grow`` (hysteresis), and is widened by ``widen`` pixels for soft edges.

Repair: OpenCV's inpainting (Telea's fast marching method) fills the mask from its
surroundings on every channel, so a grey photo stays grey and a colour photo keeps its colours
outside the damage. Nothing outside the mask changes.

    >>> import numpy as np
    >>> photo = np.full((96, 96), 110, np.uint8)
    >>> photo[:, 40:42] = 250                      # a white scratch
    >>> fixed, mask = restore_array(photo)
    >>> bool(mask[:, 40].mean() > 0.9), int(np.abs(fixed.astype(int) - 110).max()) < 10
    (True, True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from colorizer.errors import ColorizerError


@dataclass
class RestoreConfig:
    """How :func:`restore_array` decides and fills.

    strength : 1 is the balance chosen on validation photos; above 1 counts fainter marks as
        damage, below 1 only the surest (it divides the decision thresholds).
    threshold : probability from which a pixel is surely damaged (at strength 1).
    grow : probability from which a pixel joins damage it touches (at strength 1).
    widen : pixels added around the found damage before the fill (soft edges).
    radius : neighbourhood (pixels) the fill draws from.
    """

    strength: float = 1.0
    threshold: float = 0.5
    grow: float = 0.3
    widen: int = 1
    radius: int = 3


#: Photos larger than this are searched for damage on a copy shrunk to this many pixels (the
#: network's time grows with the pixels: a 12 MP scan would take about 3 s on two cores); the
#: probabilities are brought back to full size, where the fill runs.
DETECT_MAX_PIXELS = 4_000_000
#: Width (pixels) of the top-hat and black-hat the network is given beside the grey.
HAT = 9
#: Prefix of the metadata keys of the detector's ONNX export.
META = "colorizer."


def shipped_weights() -> Path:
    return Path(str(resources.files("colorizer") / "assets" / "restore.safetensors"))


def default_config(weights: str | None = None, strength: float = 1.0) -> RestoreConfig:
    """The decision thresholds chosen on validation photos for ``weights`` (their card's
    ``chosen``), at ``strength``."""
    card_file = Path(weights or shipped_weights()).with_suffix(".json")
    chosen = {}
    if card_file.exists():
        chosen = json.loads(card_file.read_text()).get("chosen", {})
    defaults = RestoreConfig()
    return RestoreConfig(strength=strength, threshold=chosen.get("threshold", defaults.threshold),
                         grow=chosen.get("grow", defaults.grow), widen=chosen.get("widen", defaults.widen))


def network_input(grey: np.ndarray) -> np.ndarray:
    """The detector's input (3, H, W) float32 for an 8-bit grey photo (H, W): grey / 255 and its
    top-hat and black-hat of width :data:`HAT` / 64 (thin bright and thin dark structure)."""
    import cv2

    g = np.ascontiguousarray(grey, np.float32)
    se = cv2.getStructuringElement(cv2.MORPH_RECT, (HAT, HAT))
    return np.stack([g / 255.0, cv2.morphologyEx(g, cv2.MORPH_TOPHAT, se) / 64.0,
                     cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, se) / 64.0])


class Restorer:
    """The damage detector, loaded once: :meth:`probability` per pixel, :meth:`decide` a mask.

    It runs in onnxruntime from the export beside the weights (``restore.onnx``, made by
    :func:`export_detector`) when that export stands for the same weights (SHA-256 in its
    metadata), so that ``colorize restore`` never imports torch; otherwise in torch.
    """

    def __init__(self, weights: str | None = None):
        self.weights = Path(weights or shipped_weights())
        self.session = _onnx_session(str(self.weights))
        self.net = None if self.session is not None else _load_net(str(self.weights))

    def _logits(self, x: np.ndarray) -> np.ndarray:
        if self.session is not None:
            return self.session.run(None, {"grey": x[None]})[0][0, 0]
        import torch

        with torch.inference_mode():
            return self.net(torch.from_numpy(x)[None])[0, 0].numpy()

    def probability(self, grey: np.ndarray) -> np.ndarray:
        """Probability of damage (H, W) float32 for an 8-bit grey photo (H, W); a photo over
        :data:`DETECT_MAX_PIXELS` is searched at that size and the answer enlarged."""
        import cv2

        h, w = grey.shape
        scale = min(1.0, float(np.sqrt(DETECT_MAX_PIXELS / (h * w))))
        small = grey if scale == 1.0 else cv2.resize(
            grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        prob = 1.0 / (1.0 + np.exp(-self._logits(network_input(small))))
        if scale < 1.0:
            prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        return prob.astype(np.float32)

    @staticmethod
    def decide(prob: np.ndarray, config: RestoreConfig) -> np.ndarray:
        """The damage mask (H, W) bool from probabilities: hysteresis between ``grow`` and
        ``threshold`` (both divided by ``strength``), widened by ``widen`` pixels."""
        import cv2
        from skimage.filters import apply_hysteresis_threshold

        if config.strength <= 0:
            return np.zeros(prob.shape, bool)
        high = min(0.995, config.threshold / config.strength)
        low = min(high, config.grow / config.strength)
        mask = apply_hysteresis_threshold(prob, low, high)
        if config.widen > 0 and mask.any():
            k = 2 * config.widen + 1
            se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            mask = cv2.dilate(mask.astype(np.uint8), se) > 0
        return mask

    def detect(self, grey: np.ndarray, config: RestoreConfig) -> np.ndarray:
        return self.decide(self.probability(grey), config)


@lru_cache(maxsize=4)
def get_restorer(weights: str | None = None) -> Restorer:
    """A :class:`Restorer` for ``weights`` (default: the shipped detector), built once."""
    return Restorer(weights)


@lru_cache(maxsize=4)
def _load_net(path: str):
    import torch  # noqa: F401 - the network needs it

    from colorizer.models.damage_net import DamageNet
    from colorizer.weights import load_weights

    state, _ = load_weights(path)
    net = DamageNet()
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise ColorizerError(f"{path}: not damage detector weights") from None
    return net.eval()


@lru_cache(maxsize=4)
def _onnx_session(weights: str):
    """An onnxruntime session of the export beside ``weights`` if it stands for them, else None."""
    onnx_file = Path(weights).with_suffix(".onnx")
    if not onnx_file.is_file() or not Path(weights).is_file():
        return None
    from colorizer.ort import file_sha256
    from colorizer.ort import session as ort_session

    try:
        session = ort_session(onnx_file)
    except ColorizerError:
        return None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if meta.get(META + "weights_sha256") != file_sha256(weights):
        return None
    return session


def export_detector(weights: str | None = None, out: str | None = None) -> Path:
    """Write the detector's ONNX export (dynamic height and width; metadata: the SHA-256 of the
    weights it stands for) beside ``weights`` or to ``out``; its output matches torch's to 1e-4."""
    import onnx
    import torch

    from colorizer.ort import file_sha256

    weights = Path(weights or shipped_weights())
    out = Path(out or weights.with_suffix(".onnx"))
    net = _load_net(str(weights))
    grey = np.random.default_rng(0).integers(0, 256, (64, 96), np.uint8)
    example = torch.from_numpy(network_input(grey))[None]
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(net, example, str(tmp), input_names=["grey"], output_names=["logits"],
                      dynamic_axes={"grey": {2: "height", 3: "width"}, "logits": {2: "height", 3: "width"}},
                      opset_version=17, dynamo=False)
    proto = onnx.load(str(tmp))
    for key, value in (("model", "restore"), ("kind", "damage detector"),
                       ("weights_sha256", file_sha256(weights))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = META + key, value
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    _onnx_session.cache_clear()
    return out


def grey_of(image: np.ndarray) -> np.ndarray:
    """8-bit grey (H, W) of an (H, W) or (H, W, 3) image of uint8, uint16 or float in [0, 1]."""
    import cv2

    x = np.asarray(image)
    if x.dtype == np.uint16:
        x = (x >> 8).astype(np.uint8)
    elif x.dtype != np.uint8:
        x = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    if x.ndim == 3:
        x = cv2.cvtColor(np.ascontiguousarray(x[..., :3]), cv2.COLOR_RGB2GRAY)
    return x


def fill(image: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """``image`` (H, W) or (H, W, 3) of uint8, uint16 or float32 with ``mask`` (H, W) filled from
    its surroundings (OpenCV's Telea inpainting; 16-bit and float one channel at a time)."""
    import cv2

    if not mask.any():
        return image.copy()
    m = mask.astype(np.uint8)
    x = np.ascontiguousarray(image)
    if x.dtype == np.uint8:
        return cv2.inpaint(x, m, radius, cv2.INPAINT_TELEA)
    chans = [x] if x.ndim == 2 else [x[..., c] for c in range(x.shape[2])]
    out = [cv2.inpaint(np.ascontiguousarray(c, np.float32), m, radius, cv2.INPAINT_TELEA) for c in chans]
    out = out[0] if x.ndim == 2 else np.stack(out, axis=2)
    if x.dtype == np.uint16:
        return np.clip(np.rint(out), 0, 65535).astype(np.uint16)
    return out.astype(x.dtype)


def restore_array(image: np.ndarray, config: RestoreConfig | None = None,
                  user_mask: np.ndarray | None = None, weights: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Find the damage in a photo and fill it from its surroundings.

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, 3), uint8, uint16 or float32 in [0, 1]
    config : RestoreConfig, optional
        Default: the thresholds chosen on validation photos for ``weights``.
    user_mask : ndarray, (H, W), bool, optional
        More damage to fill (painted by the user), added to what is found.
    weights : str, optional
        Detector weights instead of the shipped ones.

    Returns
    -------
    restored : ndarray, same shape and dtype as ``image``
    mask : ndarray, (H, W), bool
        What was filled.
    """
    return _repair(image, get_restorer(weights), config or default_config(weights), user_mask, "the photo")


def _repair(image: np.ndarray, restorer: Restorer, config: RestoreConfig, user_mask, what: str):
    """(``image`` with its damage, found and painted, filled; the mask (H, W) bool of it)."""
    mask = restorer.detect(grey_of(image), config)
    if user_mask is not None:
        mask = mask | _check_mask(user_mask, mask.shape, what)
    return (fill(image, mask, config.radius) if mask.any() else image), mask


def _check_mask(user_mask: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    user_mask = np.asarray(user_mask)
    if user_mask.shape[:2] != shape:
        raise ColorizerError(f"the damage mask is {user_mask.shape[1]}x{user_mask.shape[0]} pixels but "
                             f"{what} is {shape[1]}x{shape[0]}; paint it on a copy of the photo")
    if user_mask.ndim == 3:
        user_mask = user_mask.max(axis=2)
    return user_mask > (0.5 if user_mask.dtype.kind == "f" else 127 if user_mask.dtype != bool else 0)


def restore_picture(pic, restorer: Restorer | None = None, config: RestoreConfig | None = None,
                    user_mask: np.ndarray | None = None):
    """A :class:`colorizer.io.Picture` with its damage found and filled, and the mask (H, W) bool
    of what was filled. Alpha, precision and name are kept."""
    pixels, mask = _repair(pic.pixels, restorer or get_restorer(), config or default_config(), user_mask,
                           pic.name)
    return (type(pic)(pixels, pic.alpha, pic.name) if mask.any() else pic), mask
