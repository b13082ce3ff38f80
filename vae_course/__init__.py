"""vae-course: the helper package behind the notebooks. Importing it seeds nothing and downloads nothing."""

from .utils import get_device, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "__version__"]
