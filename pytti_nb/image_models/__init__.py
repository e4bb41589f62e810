"""Image models (differentiable image representations) and their registry."""

from types import MappingProxyType

import torch

from ..config.schema import schema_by_name
from ..errors import SettingsError, shown
from .base import ImageModel, clamp_with_grad, resize_image
from .fourier import FourierImage
from .limited_palette import LimitedPalette
from .pyramid import PyramidImage
from .unlimited_palette import UnlimitedPalette
from .vqgan import VQGANImage

# Settings name -> class; every class takes (width, height, pixel_size, *, generator, device).
IMAGE_MODELS = MappingProxyType(
    {
        "Unlimited Palette": UnlimitedPalette,
        "Limited Palette": LimitedPalette,
        "VQGAN": VQGANImage,
        "FFT": FourierImage,
        "Pyramid": PyramidImage,
    }
)
assert tuple(IMAGE_MODELS) == schema_by_name()["image_model"].choices, "schema and registry differ"

__all__ = [
    "IMAGE_MODELS",
    "FourierImage",
    "ImageModel",
    "LimitedPalette",
    "PyramidImage",
    "UnlimitedPalette",
    "VQGANImage",
    "build_image_model",
    "clamp_with_grad",
    "resize_image",
]


def build_image_model(
    settings,
    *,
    width: int,
    height: int,
    generator: torch.Generator,
    device,
    pixel_size: int | None = None,
    vqgan=None,
) -> ImageModel:
    """The image model the settings choose, at width x height parameter pixels, each shown as
    pixel_size x pixel_size output pixels (the setting's when None).

    `vqgan` is the loaded models.vqgan_net.VQGAN of a VQGAN run (the ModelCache loads it).
    """
    s = settings
    name = s.image_model
    if name not in IMAGE_MODELS:
        raise SettingsError(
            [
                f"image_model {shown(name)} is unknown; use one of {', '.join(map(repr, IMAGE_MODELS))}"
            ]
        )
    options = {
        "Limited Palette": lambda: dict(
            palette_size=s.palette_size,
            palettes=s.palettes,
            gamma=s.gamma,
            hdr_weight=s.hdr_weight,
            normalization_weight=s.palette_normalization_weight,
            random_palette=s.random_initial_palette,
            palette_lr=s.palette_learning_rate,
            lock=s.lock_palette,
            reencode=s.palette_reencode,
        ),
        "VQGAN": lambda: dict(vqgan=vqgan, seamless=s.seamless),
        "FFT": lambda: dict(decay=s.fft_decay),
        "Pyramid": lambda: dict(seamless=s.seamless),
    }.get(name, dict)()
    cls = IMAGE_MODELS[name]
    scale = s.pixel_size if pixel_size is None else pixel_size
    return cls(width, height, scale, generator=generator, device=device, **options)
