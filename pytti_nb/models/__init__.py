"""Models a session loads besides the image: perceptors, depth estimators; one cache for all."""

from .cache import ModelCache

__all__ = ["ModelCache"]
