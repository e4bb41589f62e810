"""VQGAN: a latent grid decoded by a frozen taming VQGAN (PyTTI VQGANImage, with its EMA).

The parameter is the continuous latent z [1,e,h,w] (h, w the output size over the model's
factor f). Each step quantises it to the nearest codebook vectors (straight-through gradient)
and decodes once, however many cutouts follow. As in PyTTI, the image shown and saved decodes
an exponential moving average of z (decay 0.99, bias-corrected), which smooths the jitter of
the codes the optimiser flips between.

A seamless image runs the VQGAN's padded convolutions with circular padding (the network's
only border-aware parts: attention and group norm see the whole grid either way), so the
latent grid is a torus: rolling it by a code rolls the picture by f pixels, and the picture's
left edge continues its right as any two neighbouring codes do. The encoder's stride-2
downsampling keeps taming's own zero pad on the right and bottom.
"""

from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .base import ImageModel, clamp_with_grad, resize_image

EMA_DECAY = 0.99  # PyTTI's


class VQGANImage(ImageModel):
    """A latent grid for a loaded models.vqgan_net.VQGAN (kept out of the state_dict)."""

    direct_latent = True  # PyTTI's preferred loss is LatentLoss (vqgan.py 207-211)
    latent_strength = 1.0  # PyTTI's (vqgan.py 178)

    def __init__(
        self,
        width: int,
        height: int,
        pixel_size: int = 1,
        *,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        vqgan,
        seamless: bool = False,
    ):
        # PyTTI: the output is width*pixel_size rounded down to the model's factor f
        f = vqgan.factor
        tokens_w, tokens_h = width * pixel_size // f, height * pixel_size // f
        if tokens_w < 1 or tokens_h < 1:
            raise ValueError(f"VQGAN needs an output of at least {f}x{f} pixels")
        super().__init__(tokens_w * f, tokens_h * f, 1)
        self.__dict__["vqgan"] = vqgan  # a plain attribute: frozen weights are not run state
        self.default_lr = vqgan.default_lr
        self.seamless = seamless
        z = vqgan.random_latent(tokens_h, tokens_w, generator).to(device=device)
        self.z = nn.Parameter(z.float())
        self.register_buffer("biased", torch.zeros_like(self.z))
        self.register_buffer("average", torch.zeros_like(self.z))
        self.register_buffer("accum", torch.ones((), device=device))
        self.update()

    def _decode(self, z: Tensor) -> Tensor:
        """Quantise (straight-through) and decode a latent to [1,3,H,W] in [0,1]."""
        with circular(self.vqgan, self.seamless):
            rgb = self.vqgan.decode(self.vqgan.quantize(z))
        return clamp_with_grad(rgb, 0.0, 1.0)

    def decode(self) -> Tensor:
        """The training image: the current latent, decoded."""
        return self._decode(self.z)

    @torch.no_grad()
    def display(self) -> Tensor:
        """The shown and saved image: the latent's moving average, decoded."""
        return self._decode(self.average)

    @torch.no_grad()
    def encode(self, image: Tensor) -> None:
        """The VQGAN encoder's latent of the image at the output size; the average restarts."""
        rgb = resize_image(image.to(self.z), self.height, self.width).clamp(0, 1)
        with circular(self.vqgan, self.seamless):
            self.z.copy_(self.vqgan.encode(rgb))
        self.reset_average()

    def latent(self, state: Tensor | None = None) -> Tensor:
        """The quantised codes [1,e,h,w] (PyTTI's get_latent_tensor, vqgan.py 198-205): of z,
        with its straight-through gradient, or of a kept latent_state()."""
        return self.vqgan.quantize(self.z if state is None else state)

    def latent_state(self) -> Tensor:
        """A copy of the continuous latent."""
        return self.z.detach().clone()

    @torch.no_grad()
    def latent_target(self, image: Tensor) -> Tensor:
        """The quantised codes of the image's encoding at the output size (PyTTI's make_latent,
        vqgan.py 233-244)."""
        rgb = resize_image(image.to(self.z), self.height, self.width).clamp(0, 1)
        with circular(self.vqgan, self.seamless):
            return self.vqgan.quantize(self.vqgan.encode(rgb))

    @torch.no_grad()
    def reset_average(self) -> None:
        """Restart the moving average at the current latent."""
        self.biased.zero_()
        self.accum.fill_(1.0)
        self.update()

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current latent into the bias-corrected moving average (PyTTI EMAImage)."""
        self.accum.mul_(EMA_DECAY)
        self.biased.mul_(EMA_DECAY).add_(self.z, alpha=1 - EMA_DECAY)
        torch.div(self.biased, 1 - self.accum, out=self.average)

    def updated_buffers(self) -> list[Tensor]:
        """The moving average's buffers, which update() writes."""
        return [self.biased, self.average, self.accum]

    @torch.no_grad()
    def warp(self, warp, optimizer=None) -> bool:
        """Warp the latent, its optimiser moments and its moving average in latent space.

        Measured against decoding, warping the pixels and encoding again (PyTTI's way), on a
        small VQGAN trained in the tests: the latent warp is closer to the moved picture after
        one frame (1.2-1.8x lower error) and 2-5x closer after four, as each re-encode loses
        detail. It also keeps the optimiser's moments and skips the encoder.
        """
        for buffer in (self.biased, self.average):
            buffer.copy_(warp.apply(buffer))
        return super().warp(warp, optimizer)

    def spatial_parameters(self) -> list[nn.Parameter]:
        """The latent grid: rows and columns of codes, moved with the picture."""
        return [self.z]

    def param_groups(self, lr: float) -> list[dict]:
        """The latent: the model's only parameter."""
        return [{"name": "image", "params": [self.z], "lr": lr}]


@contextmanager
def circular(network: nn.Module, on: bool = True):
    """Inside the block, the network's zero-padded convolutions pad circularly (seamless).

    The loaded network is shared by every run of the model cache, so the padding is restored on
    leaving; autograd keeps what the forward pass padded, so backward runs fine outside.
    """
    convs = [
        m
        for m in (network.modules() if on else ())
        if isinstance(m, nn.Conv2d) and m.padding_mode == "zeros" and any(m.padding)
    ]
    for conv in convs:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv in convs:
            conv.padding_mode = "zeros"
