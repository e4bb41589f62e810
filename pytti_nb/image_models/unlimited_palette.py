"""Unlimited Palette: free RGB pixels, upsampled by pixel_size (PyTTI RGBImage)."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ImageModel, clamp_with_grad, resize_image


class UnlimitedPalette(ImageModel):
    """RGB parameters [1,3,height,width]; decode = nearest upsample, then clamp_with_grad."""

    default_lr = 0.02  # PyTTI's RGB learning rate

    def __init__(
        self,
        width: int,
        height: int,
        pixel_size: int = 1,
        *,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ):
        super().__init__(width, height, pixel_size)
        # Drawn on the generator's device so a CPU generator seeds a GPU image reproducibly.
        init = torch.rand(1, 3, height, width, generator=generator, device=generator.device)
        self.pixels = nn.Parameter(init.to(device=device, dtype=torch.float32))

    def decode(self) -> Tensor:
        """Nearest-upsampled, clamped pixels [1,3,height*pixel_size,width*pixel_size]."""
        x = self.pixels
        if self.pixel_size > 1:
            x = F.interpolate(x, scale_factor=self.pixel_size, mode="nearest")
        return clamp_with_grad(x, 0.0, 1.0)

    @torch.no_grad()
    def encode(self, image: Tensor) -> None:
        """Resize `image` [1,3,h,w] to the parameter grid (antialiased) and copy it in."""
        self.pixels.copy_(resize_image(image.to(self.pixels), self.height, self.width).clamp(0, 1))

    def spatial_parameters(self) -> list[nn.Parameter]:
        """The pixels: a warp moves them (and their Adam moments) with the content."""
        return [self.pixels]

    @torch.no_grad()
    def update(self) -> None:
        """Keep pixels in [0,1] so Adam momentum cannot park them outside the decodable range."""
        self.pixels.clamp_(0, 1)
