"""Image models (differentiable image representations) and their registry."""

from types import MappingProxyType

import torch

from ..errors import SettingsError
from .base import ImageModel, clamp_with_grad, resize_image
from .unlimited_palette import UnlimitedPalette

# Settings name -> class; every class takes (width, height, pixel_size, *, generator, device).
IMAGE_MODELS = MappingProxyType({"Unlimited Palette": UnlimitedPalette})

__all__ = [
    "IMAGE_MODELS",
    "ImageModel",
    "UnlimitedPalette",
    "build_image_model",
    "clamp_with_grad",
    "resize_image",
]


def build_image_model(
    name: str,
    *,
    width: int,
    height: int,
    pixel_size: int,
    generator: torch.Generator,
    device: torch.device | str,
) -> ImageModel:
    """Build the image model registered under `name` (e.g. "Unlimited Palette")."""
    if name not in IMAGE_MODELS:
        raise SettingsError(
            [f"image_model {name!r} is unknown; use one of {', '.join(map(repr, IMAGE_MODELS))}"]
        )
    return IMAGE_MODELS[name](width, height, pixel_size, generator=generator, device=device)
