"""The library call every front end uses: read -> L -> model -> ab -> join with full-size L -> write.

A colour input is treated like a grey one: only its lightness L is kept, and the model
re-colorizes it. The model sees a working-resolution copy of L (about ``size`` x ``size`` pixels,
aspect ratio kept); its ab prediction is upsampled to the full size and joined with the
full-resolution L, so the output has exactly the input's size and the input's L (within 8-bit
rounding).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from colorizer import resize
from colorizer.color import l_ab_to_srgb
from colorizer.errors import ColorizerError
from colorizer.io import Picture, load_input
from colorizer.registry import Colorizer, Hints, get_colorizer
from colorizer.resize import DEFAULT_SIZE, working_shape  # noqa: F401  (shared with the onnx backend)


def _check_saturation(saturation: float) -> None:
    if saturation < 0:
        raise ColorizerError(f"saturation must be at least 0, got {saturation}")


def _masked_resize(hints: Hints, shape: tuple[int, int]) -> Hints:
    """Downsample hints so that each low-res pixel averages only the hinted pixels under it."""
    from colorizer.models.blocks import masked_pool

    return Hints(*masked_pool(hints.ab.float(), hints.mask.float(), shape))


def _as_hints(hints, height: int, width: int) -> Hints | None:
    if hints is None or isinstance(hints, Hints):
        return hints
    ab, mask = hints
    ab, mask = np.asarray(ab, np.float32), np.asarray(mask, bool)
    if ab.shape != (height, width, 2) or mask.shape != (height, width):
        raise ColorizerError(f"hints must be ab of shape ({height}, {width}, 2) and mask of shape "
                             f"({height}, {width}); got {ab.shape} and {mask.shape}")
    return Hints(torch.from_numpy(ab).permute(2, 0, 1)[None],
                 torch.from_numpy(mask.astype(np.float32))[None, None])


def _hint_arrays(hints, height: int, width: int):
    """(ab (H, W, 2) float32, mask (H, W) bool, weight (H, W) float32 or None) from the ``hints``
    argument of :func:`colorize`: a :class:`Hints` of one image, or a tuple of arrays."""
    if isinstance(hints, Hints):
        if hints.ab.shape[0] != 1:
            raise ColorizerError(f"hints must be for one image, got a batch of {hints.ab.shape[0]}")
        hints = (hints.ab[0].permute(1, 2, 0).cpu().numpy(), hints.mask[0, 0].cpu().numpy() > 0)
    if not isinstance(hints, (tuple, list)) or len(hints) not in (2, 3):
        raise ColorizerError("hints must be (ab, mask) or (ab, mask, weight)")
    weight = None
    if len(hints) == 3:
        weight = np.asarray(hints[2], np.float32)
        if weight.shape != (height, width):
            raise ColorizerError(f"hints: weight must have shape ({height}, {width}); "
                                 f"got {weight.shape}")
    h = _as_hints(tuple(hints[:2]), height, width)  # checks the shapes
    return h.ab[0].permute(1, 2, 0).numpy(), h.mask[0, 0].numpy() > 0, weight


@torch.inference_mode()
def predict_working_ab(L: torch.Tensor, model: Colorizer, size: int | None = None,
                       hints: Hints | None = None, sample: int | None = None,
                       saturation: float = 1.0) -> torch.Tensor:
    """Run ``model`` on a working-size copy of full-resolution ``L`` (N, 1, H, W).

    Returns ab (N, 2, h, w) at the working size chosen by :func:`working_shape` (``size`` None:
    the model's ``preferred_size``), times the model's calibrated ``chroma_gain`` and the user's
    ``saturation`` (0: grey, above 1: bolder). With ``sample=k`` (1, 2, ...), a model that can
    sample (the VAE) gives its k-th alternative colorization instead of its most likely one.
    """
    small = working_l(L, model, size)
    shape = tuple(small.shape[-2:])
    if hints is not None:
        hints = _masked_resize(hints.to(L.device), shape)
    if sample is not None:
        require_sampler(model)
        ab = model.sample_ab(small, int(sample))
    else:
        ab = model.predict_ab(small, hints=hints)
    if ab.shape != (L.shape[0], 2, *shape):
        raise RuntimeError(f"model {model.name!r} returned ab of shape {tuple(ab.shape)}, "
                           f"expected {(L.shape[0], 2, *shape)}")
    gain = model.chroma_gain * saturation
    return ab.float() * gain if gain != 1.0 else ab.float()


def require_sampler(model: Colorizer) -> None:
    """Raise the user's error for sampling (``--samples``) with a model that cannot sample."""
    if not hasattr(model, "sample_ab"):
        raise ColorizerError(f"model {model.name!r} gives one colorization only; --samples needs "
                             "a model that samples, such as vae")


def working_l(L: torch.Tensor, model: Colorizer, size: int | None = None) -> torch.Tensor:
    """Full-resolution L (N, 1, H, W) area-averaged down to the model's working shape
    (:func:`working_shape`; ``size`` None: the model's ``preferred_size``), on L's device."""
    shape = working_shape(*L.shape[-2:], size or getattr(model, "preferred_size", DEFAULT_SIZE),
                          model.multiple)
    return _downscale(L, shape)


def _downscale(L: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Area-average L (N, 1, H, W) down to ``shape``. On the CPU OpenCV's INTER_AREA does it
    about 10x faster than torch's antialiased bilinear on a 12 MP photo (same kind of filter)."""
    if L.device.type == "cpu" and L.shape[0] == 1 and L.shape[-2] >= shape[0] and L.shape[-1] >= shape[1]:
        return torch.from_numpy(resize.downscale_l(L[0, 0].numpy(), shape))[None, None]
    return F.interpolate(L, size=shape, mode="bilinear", antialias=True, align_corners=False)


def upsample_ab(ab: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of one working-size ab (1, 2, h, w) to a full-size (H, W, 2) array."""
    return resize.upsample_ab(ab[0].cpu().numpy(), height, width)


@torch.inference_mode()
def colorize_picture(pic: Picture, model: Colorizer, size: int | None = None,
                     hints: Hints | None = None, sample: int | None = None,
                     saturation: float = 1.0, denoiser: Colorizer | None = None) -> Picture:
    """Colorize a :class:`Picture` at full resolution with a ready model.

    The five hops: full-res L -> working-size L -> model -> ab upsampled -> joined with full L.
    ``sample=k`` draws the k-th random colorization (models that sample, e.g. the VAE).
    With a ``denoiser`` (:func:`colorizer.registry.get_denoiser`), L is denoised first, and the
    output keeps the denoised L. Reference photos take :func:`colorize_with_reference`.
    """
    L = pic.lightness() if denoiser is None else denoise_l(pic.lightness(), denoiser)
    height, width = L.shape
    ab = predict_working_ab(torch.from_numpy(L)[None, None].to(model.device), model, size, hints, sample,
                            saturation)
    return pic.with_pixels(l_ab_to_srgb(L, upsample_ab(ab, height, width), pic.pixels.dtype))


class Reference:
    """Colour reference photos, described once and used for any number of photos or frames.

    Build it with :func:`prepare_reference`. ``cells`` are the pooled descriptions
    (:class:`colorizer.reference.ReferenceCells`), ``encoder`` the network that made them and
    ``config`` the matching settings.
    """

    def __init__(self, cells, encoder, config):
        self.cells, self.encoder, self.config = cells, encoder, config

    @torch.inference_mode()
    def apply(self, L_small: np.ndarray, prior_ab: np.ndarray,
              features=None) -> tuple[np.ndarray, np.ndarray]:
        """Working-size ab (h, w, 2) from the reference on top of ``prior_ab`` (h, w, 2), and
        where the reference was used (h, w) in [0, 1]. ``features``: the encoder's outputs for
        ``L_small`` when the model has just computed them."""
        from colorizer import reference

        return reference.apply_reference(L_small, prior_ab, self.cells, self.encoder, self.config, features)


def prepare_reference(references, model: Colorizer | None = None, config=None) -> Reference:
    """Read and describe one or more colour reference photos.

    Parameters
    ----------
    references : path, PIL image, array, Picture, or a list of them
        Colour photos of the same scene, people or objects (any size or aspect).
    model : Colorizer, optional
        The colorizer the photos will be coloured with; its pretrained encoder describes the
        photos when it has one, else the shipped ``gan`` model's.
    config : colorizer.reference.ReferenceConfig, optional

    Raises
    ------
    ColorizerError
        A reference that cannot be read (one line naming it) or that is grey.
    """
    from colorizer import reference

    config = config or reference.ReferenceConfig()
    if isinstance(references, (str, bytes)) or not isinstance(references, (list, tuple)):
        references = [references]
    if not references:
        raise ColorizerError("no reference photo given")
    encoder = reference.feature_encoder(model)
    cells = [reference.describe_reference(r if isinstance(r, Picture) else load_input(r)[0], encoder,
                                          config) for r in references]
    return Reference(reference.ReferenceCells.pooled(cells), encoder, config)


@torch.inference_mode()
def colorize_with_reference(pic: Picture, model: Colorizer | None, reference: Reference,
                            size: int | None = None, saturation: float = 1.0,
                            denoiser: Colorizer | None = None,
                            scribbles: tuple[np.ndarray, np.ndarray] | None = None,
                            ) -> tuple[Picture, np.ndarray]:
    """Colorize a :class:`Picture` from reference photos on top of a model (or alone).

    ``scribbles`` (hint_ab (H, W, 2), mask (H, W), as :func:`colorize_scribbles` takes them)
    then correct that result as they correct a model's. Returns the colorized picture and a
    full-size map (H, W) float32 in [0, 1] of where the reference's colours were used (0: the
    model's own colours).
    """
    import cv2

    _check_saturation(saturation)
    L = pic.lightness() if denoiser is None else denoise_l(pic.lightness(), denoiser)
    height, width = L.shape
    L_t = torch.from_numpy(L)[None, None]
    features = None
    if model is not None:
        seen = []  # the model's own encoder pass, when it is the encoder that describes cells
        hook = reference.encoder.register_forward_hook(lambda mod, args, out: seen.append(out))
        try:
            prior = predict_working_ab(L_t.to(model.device), model, size)[0].permute(1, 2, 0).cpu().numpy()
        finally:
            hook.remove()
        small = working_l(L_t, model, size)[0, 0].numpy()
        if len(seen) == 1 and seen[0][2].shape[-2] * 8 == small.shape[0]:
            features = seen[0]
    else:
        small = _downscale(L_t, working_shape(height, width, size or DEFAULT_SIZE, 32))[0, 0].numpy()
        prior = np.zeros((*small.shape, 2), np.float32)
    ab, used = reference.apply(small, np.ascontiguousarray(prior), features)
    if saturation != 1.0:
        ab = ab * np.float32(saturation)
    full = upsample_ab(torch.from_numpy(np.ascontiguousarray(ab)).permute(2, 0, 1)[None], height, width)
    if scribbles is not None and np.asarray(scribbles[1]).any():
        from colorizer import levin

        # scribbles fill the object they touch on top of the reference's colours (as on a model)
        full = levin.fill_hints(L, full, scribbles[0], scribbles[1])
    used = cv2.resize(used, (width, height), interpolation=cv2.INTER_LINEAR)
    return pic.with_pixels(l_ab_to_srgb(L, full, pic.pixels.dtype)), np.clip(used, 0, 1)


def denoise_l(L: np.ndarray, denoiser: Colorizer, strength: float = 1.0,
              passes: int = resize.DEFAULT_PASSES) -> np.ndarray:
    """Full-resolution L (H, W) float32 through a denoiser (``colorize denoise``); ``strength``
    scales the noise removed (0: none, 1: as trained); ``passes``: shifted copies averaged
    (:func:`colorizer.resize.denoise_passes`, the same recipe as the onnxruntime backend)."""

    def run(x: np.ndarray) -> np.ndarray:
        out = denoiser.denoise_l(torch.from_numpy(x)[None, None])
        return out[0, 0].float().cpu().numpy()

    return resize.denoise_passes(L, run, strength, passes)


def denoise_picture(pic: Picture, denoiser: Colorizer, strength: float = 1.0,
                    passes: int = resize.DEFAULT_PASSES) -> Picture:
    """Denoise a :class:`Picture`'s lightness at full resolution and keep its colour: a grey
    picture stays exactly grey (R = G = B), a colour one keeps its ab."""
    return pic.with_lightness(denoise_l(pic.lightness(), denoiser, strength, passes))


def denoise(image, model: str | Colorizer = "denoise", *, strength: float = 1.0,
            passes: int = resize.DEFAULT_PASSES, device: str | None = None, weights: str | None = None):
    """Remove noise, film grain and JPEG damage from one image's lightness, at full resolution.

    Parameters
    ----------
    image : str, os.PathLike, PIL.Image.Image or ndarray
        As for :func:`colorize`. A grey image stays grey; a colour image keeps its colours (ab).
    model : str or Colorizer
        A denoiser name (see :func:`colorizer.registry.list_denoisers`) or a ready denoiser.
    strength : float
        How much of the estimated noise is removed: 1 as trained, 0.5 a lighter touch.
    passes : int
        Shifted copies denoised and averaged (1-8; :func:`colorizer.resize.denoise_passes`):
        each one more costs one more run of the network and gains a little less.
    device, weights : str, optional
        As for :func:`colorize`.

    Returns
    -------
    PIL.Image.Image or ndarray
        As for :func:`colorize`.
    """
    from colorizer.registry import get_denoiser

    pic, kind = load_input(image)
    if not isinstance(model, Colorizer):
        model = get_denoiser(model, weights=weights, device=device)
    out = denoise_picture(pic, model, strength, passes)
    if kind == "array":
        return out.to_array(np.asarray(image).dtype if np.asarray(image).dtype != bool else np.uint8)
    return out.to_pil()


def restore(image, *, strength: float = 1.0, user_mask=None, weights: str | None = None):
    """Find scratches, cracks, dust, hairs and small tears in one photo and fill them from their
    surroundings, at full resolution (:mod:`colorizer.repair`).

    Parameters
    ----------
    image : str, os.PathLike, PIL.Image.Image or ndarray
        As for :func:`colorize`. A grey photo stays grey, a colour photo keeps its colours;
        nothing outside the damage changes.
    strength : float
        How much counts as damage: 1 the balance chosen on validation photos, 1.5 also fainter
        marks, 0.7 only the surest. 0 repairs nothing found.
    user_mask : ndarray (H, W), path or PIL image, optional
        More damage to fill, painted white on black at the photo's size.
    weights : str, optional
        Detector weights instead of the shipped ones.

    Returns
    -------
    (restored, mask)
        ``restored`` as :func:`colorize` returns images (PIL for a path or PIL input, an array
        of the input's dtype for an array); ``mask`` (H, W) bool, True where it filled.

    Examples
    --------
    >>> photo = np.full((64, 64), 100, np.uint8); photo[:, 30] = 255
    >>> fixed, mask = restore(photo)
    >>> fixed.shape, bool(mask[:, 30].all())
    ((64, 64, 3), True)
    """
    from colorizer.repair import default_config, get_restorer, restore_picture

    pic, kind = load_input(image)
    if strength < 0:
        raise ColorizerError(f"strength must be 0 or more, got {strength}")
    if user_mask is not None and not isinstance(user_mask, np.ndarray):
        user_mask = load_input(user_mask)[0].to_array(np.uint8)
    out, mask = restore_picture(pic, get_restorer(weights), default_config(weights, strength), user_mask)
    if kind == "array":
        return out.to_array(np.asarray(image).dtype if np.asarray(image).dtype != bool else np.uint8), mask
    return out.to_pil(), mask


@torch.inference_mode()
def confidence_map(pic: Picture, model: Colorizer, size: int | None = None) -> np.ndarray:
    """Per-pixel confidence in [0, 1] at full resolution, (H, W) float32, for models that give
    one (zhang: 1 - normalised entropy of the bin distribution). Low values mark guessed colour."""
    if not hasattr(model, "predict_confidence"):
        raise ColorizerError(f"model {model.name!r} gives no confidence map; use --model zhang")
    import cv2

    L = pic.lightness()
    height, width = L.shape
    small = working_l(torch.from_numpy(L)[None, None], model, size).to(model.device)
    conf = model.predict_confidence(small)[0, 0].float().cpu().numpy()
    return cv2.resize(conf, (width, height), interpolation=cv2.INTER_LINEAR)


def model_ab(L: np.ndarray, model: Colorizer, size: int | None = None,
             hints: Hints | None = None) -> np.ndarray:
    """A model's ab (H, W, 2) float32 for full-resolution ``L`` (H, W): predicted at the working
    size (:func:`predict_working_ab`) and upsampled to full size."""
    height, width = L.shape
    ab = predict_working_ab(torch.from_numpy(np.ascontiguousarray(L, np.float32))[None, None]
                            .to(model.device), model, size, hints)
    return upsample_ab(ab, height, width)


@torch.inference_mode()
def colorize_scribbles(pic: Picture, hint_ab: np.ndarray, mask: np.ndarray,
                       model: Colorizer | None = None, *, size: int | None = None,
                       prior_weight: float | None = None, saturation: float = 1.0,
                       hint_weight: np.ndarray | None = None) -> Picture:
    """Colour from user hints (scribbles, dots), alone or on top of a model.

    Without ``model`` the hints are spread over the whole photo (Levin et al. 2004). With a
    model, its prediction is the starting point and each hint corrects the object it touches,
    up to that object's edges, while the rest keeps the model's colours
    (:func:`colorizer.levin.fill_hints`). ``hint_ab`` (H, W, 2) and ``mask`` (H, W) are at the
    photo's full resolution; ``hint_weight`` (H, W), optional, is each hint's confidence (1 hard,
    below 1 soft). ``prior_weight`` (None: :data:`colorizer.levin.FILL_PRIOR_WEIGHT`) is how
    strongly unhinted pixels keep the model's colours. ``saturation`` scales the finished
    colours, as in :func:`colorize_picture` (1: as painted and as calibrated; 0: grey).
    """
    from colorizer import levin

    _check_saturation(saturation)
    L = pic.lightness()
    height, width = L.shape
    if model is None:
        ab = levin.colorize(L, hint_ab, mask, hint_weight=hint_weight)
    else:
        # a model that takes hints (the authors' SIGGRAPH17 network) sees the scribbles too
        hints = _as_hints((hint_ab, mask), height, width).to(model.device) if model.uses_hints else None
        prior = model_ab(L, model, size, hints)
        ab = levin.fill_hints(L, prior, hint_ab, mask, hint_weight=hint_weight,
                              prior_weight=levin.FILL_PRIOR_WEIGHT if prior_weight is None
                              else prior_weight)
    if saturation != 1.0:
        ab = ab * np.float32(saturation)
    return pic.with_pixels(l_ab_to_srgb(L, ab, pic.pixels.dtype))


def colorize(image, model: str | Colorizer | None = "default", *, size: int | None = None,
             device: str | None = None, hints=None, weights: str | None = None,
             saturation: float = 1.0, reference=None, restore: bool = False):
    """Colorize one image at its full resolution.

    Parameters
    ----------
    image : str, os.PathLike, PIL.Image.Image or ndarray
        A file path, a PIL image, or an array (H, W), (H, W, 3) or (H, W, 4) of uint8, uint16 or
        float in [0, 1]. A colour image is re-colorized from its lightness.
    model : str, Colorizer or None
        A registry name (see :func:`colorizer.list_colorizers`) or a ready colorizer. With a
        ``reference``, ``"none"`` (or None) colours from the reference alone.
    size : int, optional
        Working resolution: the model sees about ``size`` x ``size`` pixels (default: the
        model's preferred size).
    device : str, optional
        ``"cpu"``, ``"cuda"`` or None (CUDA when available).
    hints : tuple (ab, mask) or (ab, mask, weight), optional
        Full-resolution colour hints: ab (H, W, 2) in Lab units, mask (H, W) bool, and
        optionally each hint's confidence (H, W) in [0, 1] (1 hard, the default; below 1 soft).
        Each hint colours the object it touches, up to its edges, and the rest keeps the
        model's colours (:func:`colorize_scribbles`); a model that takes hints (SIGGRAPH17)
        sees them too. With ``model="levin"`` the hints are all the colour there is.
    weights : str, optional
        A safetensors file to load instead of the shipped weights.
    saturation : float
        Colour strength relative to the model's calibrated default: 0 gives grey, 1.5 bolder.
    reference : path, PIL image, array, list of them, or Reference, optional
        Colour photos of the same scene, people or objects, any size or aspect (or one
        :func:`prepare_reference` made, to reuse it). Parts of the image that match parts of
        a reference by content take their colours; the model colours the rest. A reference of
        another scene matches poorly and is ignored (:mod:`colorizer.reference`). ``hints`` are
        not used together with a reference.
    restore : bool
        Find and fill scratches, cracks, dust and small tears first (:func:`restore`, at its
        default strength); the output keeps the repaired lightness.

    Returns
    -------
    PIL.Image.Image or ndarray
        A PIL image for a path or a PIL input (RGB, or RGBA when the input had alpha). For an
        array input, an array of the same dtype with 3 channels (4 with alpha).

    Examples
    --------
    >>> out = colorize(np.zeros((30, 40), np.uint8), model="gray")
    >>> out.shape, out.dtype
    ((30, 40, 3), dtype('uint8'))

    With a colour photo of the same place (``old.jpg`` a grey scan of it):

    >>> out = colorize("old.jpg", reference="colour.jpg")  # doctest: +SKIP
    """
    pic, kind = load_input(image)
    if restore:
        from colorizer.repair import restore_picture

        pic = restore_picture(pic)[0]
    if model in (None, "none"):
        if reference is None:
            raise ColorizerError("model 'none' needs a reference photo (reference=...)")
        model = None
    elif not isinstance(model, Colorizer):
        model = get_colorizer(model, weights=weights, device=device)
    _check_saturation(saturation)
    if reference is not None:
        if not isinstance(reference, Reference):
            reference = prepare_reference(reference, model)
        out = colorize_with_reference(pic, model, reference, size, saturation)[0]
    elif hints is None:
        out = colorize_picture(pic, model, size, saturation=saturation)
    else:
        hint_ab, mask, weight = _hint_arrays(hints, *pic.pixels.shape[:2])
        out = colorize_scribbles(pic, hint_ab, mask, None if model.name == "levin" else model,
                                 size=size, saturation=saturation, hint_weight=weight)
    if kind == "array":
        return out.to_array(np.asarray(image).dtype if np.asarray(image).dtype != bool
                            else np.uint8)
    return out.to_pil()
