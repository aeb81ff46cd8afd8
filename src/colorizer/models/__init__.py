"""Built-in colorizers; importing this package registers them."""

from colorizer.models import baselines  # noqa: F401
