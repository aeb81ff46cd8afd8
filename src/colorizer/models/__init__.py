"""Built-in colorizers; importing this package registers them."""

from colorizer.models import baselines, scribble  # noqa: F401
