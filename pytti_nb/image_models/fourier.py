"""FFT: a decorrelated-colour Fourier image with a 1/f spectrum scale (Lucid, Aphantasia).

The parameters are the real FFT of three decorrelated colour channels. Scaling each frequency
by 1/f^decay gives the optimiser's steps a natural image's spectrum, so coarse shapes form first
and colour stays natural; a sigmoid keeps pixels in range without clamping. Every step of the
decode is invertible, so encode() is exact up to rounding (pixels are held 1e-4 inside [0,1]).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ImageModel, resize_image

# Lucid's square root of ImageNet's colour correlation (from its SVD), scaled so that its
# largest column has norm 1: decorrelated channels map to RGB through it.
_COLOR_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))
INIT_STD = 0.01  # Lucid's initial spectrum: near-flat grey
EDGE = 1e-4  # encode holds pixels this far inside (0, 1), where the sigmoid is invertible


class FourierImage(ImageModel):
    """Spectrum parameters [1,3,h,w//2+1,2] decoded by inverse FFT, colour mixing and sigmoid."""

    default_lr = 0.5  # measured: 0.05 (Lucid's, for its loss scale) barely moves our losses

    def __init__(
        self,
        width: int,
        height: int,
        pixel_size: int = 1,
        *,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        decay: float = 1.0,
    ):
        super().__init__(width, height, pixel_size)
        shape = (1, 3, height, width // 2 + 1, 2)
        init = torch.randn(*shape, generator=generator, device=generator.device) * INIT_STD
        self.spectrum = nn.Parameter(init.to(device=device, dtype=torch.float32))
        self.register_buffer("scale", _spectrum_scale(height, width, decay).to(device))
        color = torch.tensor(_COLOR_SQRT)
        color = color / color.norm(dim=0).max()
        self.register_buffer("color", color.to(device))

    def decode(self) -> Tensor:
        """The image [1,3,height*pixel_size,width*pixel_size], strictly inside (0, 1)."""
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        channels = torch.fft.irfft2(spectrum, s=(self.height, self.width), norm="ortho")
        rgb = torch.einsum("ij,bjhw->bihw", self.color, channels).sigmoid()
        if self.pixel_size > 1:
            rgb = F.interpolate(rgb, scale_factor=self.pixel_size, mode="nearest")
        return rgb

    @torch.no_grad()
    def encode(self, image: Tensor) -> None:
        """Invert decode(): logit, unmix the colours, forward FFT, divide by the 1/f scale."""
        rgb = resize_image(image.to(self.spectrum), self.height, self.width)
        logits = rgb.clamp(EDGE, 1 - EDGE).logit()
        channels = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.color), logits)
        spectrum = torch.fft.rfft2(channels, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(spectrum))


def _spectrum_scale(height: int, width: int, decay: float) -> Tensor:
    """Lucid's 1/f^decay scale [h, w//2+1] (the lowest frequency capped at 1/max side), over 4."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freqs = (fx.square() + fy.square()).sqrt()
    return 1.0 / freqs.clamp_min(1.0 / max(width, height)) ** decay / 4
