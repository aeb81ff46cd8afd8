"""Built-in colorizers; importing this package registers them."""

from colorizer.models import baselines, denoise, gan, scribble, vae, zhang  # noqa: F401
