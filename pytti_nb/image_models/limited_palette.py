"""Limited Palette: each pixel is one colour of a few small palettes (PyTTI PixelImage).

Parameters: `palette` [K,P,3] (K colours in each of P palettes, stored times 2, PyTTI's
"inertia", so colours move half as fast as the other parameters), `value` [1,1,h,w] (which
brightness level) and `logits` [1,P,h,w] (which palette). The picture shows exactly
palette[round(value*(K-1))] of the most likely palette; the gradient is PyTTI's soft one, half
that and half a blend of the two nearest levels across all palettes weighted by softmax(logits).
Unlike PyTTI's, a colour channel or a level on the edge of its range keeps its gradient back
into it, so the starting ramp's black and white, and whatever reaches 0 or 1, can move again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ImageModel, clamp_with_grad, resize_image
from .palette_fit import brightness, fit_palettes, nearest, refine, sort_by_brightness

INERTIA = 2.0  # PyTTI's pallet_inertia: palette parameters are colours times this
CHOICE_MARGIN = 3.0  # logit of the chosen palette after an encode (the others are 0)
REFIT_ITERATIONS = 3  # k-means steps from the current palette when a later frame is encoded
SWATCH = (32, 16)  # PyTTI's swatch: 32 px per colour (rows), 16 px per palette (columns)


class LimitedPalette(ImageModel):
    """P palettes of K colours; decode picks one colour per parameter pixel."""

    default_lr = 0.02  # PyTTI's
    latent_strength = 0.1  # PyTTI's (pixel.py 205): its flow loss's latent part

    def __init__(
        self,
        width: int,
        height: int,
        pixel_size: int = 1,
        *,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        palette_size: int = 6,
        palettes: int = 9,
        gamma: float = 1.0,
        hdr_weight: float = 0.01,
        normalization_weight: float = 0.2,
        random_palette: bool = False,
        palette_lr: float | None = None,
        lock: bool = False,
        reencode: str = "refit",
    ):
        super().__init__(width, height, pixel_size)
        self.palette_size, self.palettes, self.palette_lr = palette_size, palettes, palette_lr
        self.hdr_weight, self.normalization_weight = hdr_weight, normalization_weight
        self.lock_when_ready = lock
        self.reencode_mode = reencode  # palette_reencode: how a Video Source frame starts
        draw = {"generator": generator, "device": generator.device}
        value = torch.rand(1, 1, height, width, **draw)
        logits = torch.rand(1, palettes, height, width, **draw)
        if random_palette:
            palette = torch.rand(palette_size, palettes, 3, **draw) * INERTIA
        else:  # PyTTI's grey ramp, linspace(0, INERTIA)^gamma: mid-grey at gamma 0
            ramp = torch.linspace(0, INERTIA, palette_size, device=generator.device).pow(gamma)
            palette = ramp[:, None, None].expand(-1, palettes, 3).clone()
        as_param = lambda t: nn.Parameter(t.to(device=device, dtype=torch.float32))  # noqa: E731
        self.value, self.logits, self.palette = map(as_param, (value, logits, palette))
        self.register_buffer("ramp", _ramp(palette_size, gamma).to(device))
        self.register_buffer("target", torch.zeros_like(self.palette))  # the locked palette
        self.register_buffer("locked", torch.zeros((), dtype=torch.bool, device=device))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool, device=device))
        self._locked = False  # mirrors `locked` so decode never reads a flag off the GPU

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Restore the parameters and buffers, and the lock flag with them."""
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._locked = bool(self.locked)
        return result

    def colours(self) -> Tensor:
        """The palettes as colours [K,P,3] in [0,1], each sorted dark to bright."""
        if self._locked:
            return self.target
        # update's clamp puts every channel pushed past 0 or 1 on it, where torch's clamp passes
        # no gradient: the start's black and white, and any channel that reached 0 or 1 later,
        # stayed there for good (the demo's prompts painted black-and-white noise)
        return sort_by_brightness(clamp_with_grad(self.palette / INERTIA, 0.0, 1.0))

    def decode(self) -> Tensor:
        """The palette image [1,3,height*pixel_size,width*pixel_size] (PyTTI's decode)."""
        palette = self.colours()  # [K,P,3]
        size, palettes, _ = palette.shape
        # update's clamp puts every value pushed past 0 or 1 on it, where PyTTI's gradient is 0
        # (clamp's, and floor and ceil coinciding): those pixels stuck at black and white for
        # good (67% of them after 100 steps of the demo's settings). Here the clamp passes the
        # gradient back into range and a value on a level blends it with the next
        levels = clamp_with_grad(self.value.flatten(), 0.0, 1.0) * (size - 1)  # [N]
        low = levels.detach().floor().clamp(0, max(size - 2, 0)).long()
        high = (low + 1).clamp(max=size - 1)
        logits = self.logits[0].flatten(1)  # [P,N], channels first: every op below is contiguous
        shown = palette[levels.round().long(), logits.argmax(0)].T  # [3,N]: K*P colours at most
        # the soft colour: each level mixed over the palettes by softmax(logits), as one
        # matmul [K*3,P] @ [P,N] (PyTTI gathered [h,w,P,3] twice), then the two nearest levels
        mixed = palette.permute(0, 2, 1).reshape(size * 3, palettes) @ logits.softmax(0)
        mixed = mixed.view(size, 3, -1)
        frac = levels - low
        pick = lambda index: mixed.gather(0, index.expand(1, 3, -1))[0]  # noqa: E731
        soft = pick(low) * (1 - frac) + pick(high) * frac
        blend = 0.5 * soft + 0.5 * shown
        # forward: exactly the palette colour (x - x is exactly 0); backward: the soft blend
        rgb = (shown.detach() + (blend - blend.detach())).view(1, 3, self.height, self.width)
        if self.pixel_size > 1:
            rgb = F.interpolate(rgb, scale_factor=self.pixel_size, mode="nearest")
        return rgb

    @torch.no_grad()
    def encode(self, image: Tensor) -> None:
        """Fit the palettes to the image (k-means), then pick each pixel's level and palette.

        The first encode fits the palettes afresh; later ones (a Video Source re-encode) refine
        the current palettes a little, so colours do not jump between frames; a locked
        palette is kept as it is.
        """
        rgb = resize_image(image.to(self.palette), self.height, self.width).clamp(0, 1)
        pixels = rgb[0].flatten(1).T  # [N,3]
        if not self._locked:
            if self.fitted:  # a sync, but encodes happen once per frame at most
                palette = refine(pixels, self.colours(), REFIT_ITERATIONS)
            else:
                palette = fit_palettes(pixels, self.palettes, self.palette_size)
            self.palette.copy_(palette * INERTIA)
            self.fitted.fill_(True)
        level, choice = nearest(pixels, self.colours())
        self.value.copy_((level.float() / max(self.palette_size - 1, 1)).view_as(self.value))
        one_hot = F.one_hot(choice, self.palettes).T.float() * CHOICE_MARGIN  # [P,N]
        self.logits.copy_(one_hot.view_as(self.logits))

    @torch.no_grad()
    def reencode(self, image: Tensor) -> None:
        """Start a Video Source frame from its source frame (not at a scene cut).

        refit: encode() (the palettes refined toward the frame, each pixel its nearest colour).
        pytti: PyTTI's re-encode (Transforms.py 478-481, image_models/pixel.py encode_image with
        smart_encode=False): the palettes and the moved palette choices stay, and each pixel's
        level is set to the frame's HSP brightness.
        """
        if self.reencode_mode != "pytti":
            self.encode(image)
            return
        rgb = resize_image(image.to(self.value), self.height, self.width).clamp(0, 1)
        self.value.copy_(brightness(rgb.movedim(1, -1))[:, None])  # [1,1,h,w]

    @torch.no_grad()
    def fit_palette(self, image: Tensor) -> None:
        """Fit the palettes to an image's colours and lock them (PyTTI's target_palette)."""
        pixels = resize_image(image.to(self.palette), self.height, self.width).clamp(0, 1)
        palette = fit_palettes(pixels[0].flatten(1).T, self.palettes, self.palette_size)
        self.palette.copy_(palette * INERTIA)
        self.lock()

    @torch.no_grad()
    def lock(self) -> None:
        """Freeze the palettes at their current (sorted) colours."""
        self.target.copy_(self.colours())
        self.locked.fill_(True)
        self._locked = True

    def ready(self) -> None:
        """The starting image is set: lock_palette freezes the palettes it ended up with."""
        if self.lock_when_ready and not self._locked:
            self.lock()

    def regularizers(self) -> dict[str, Tensor]:
        """PyTTI's palette losses: HDR (brightness ramp) and normalisation (use every palette)."""
        out = {}
        if self.hdr_weight and not self._locked:
            out["palette_hdr"] = self.hdr_weight * hdr_loss(self.colours(), self.ramp)
        if self.normalization_weight:
            out["palette_normalization"] = self.normalization_weight * normalization_loss(
                self.logits
            )
        return out

    def param_groups(self, lr: float) -> list[dict]:
        """Pixels at `lr`; the palettes at palette_learning_rate when it is set."""
        return [
            {"name": "image", "params": [self.value, self.logits], "lr": lr},
            {"name": "palette", "params": [self.palette], "lr": self.palette_lr or lr},
        ]

    def steer(self, settings) -> None:
        """Live edits of the loss weights and the palette's learning rate."""
        self.hdr_weight = settings.hdr_weight
        self.normalization_weight = settings.palette_normalization_weight
        self.palette_lr = settings.palette_learning_rate
        self.reencode_mode = settings.palette_reencode

    def latent(self, state: Tensor | None = None) -> Tensor:
        """Levels and palette choices [1,1+P,h,w] (PyTTI's get_image_tensor, pixel.py 295-296,
        which its flow loss compares), or a kept latent_state()."""
        return torch.cat((self.value, self.logits), 1) if state is None else state

    def latent_state(self) -> Tensor:
        """A copy of the levels and palette choices."""
        return self.latent().detach().clone()

    def spatial_parameters(self) -> list[nn.Parameter]:
        """Brightness levels and palette choices move together, so colours follow the content."""
        return [self.value, self.logits]

    @torch.no_grad()
    def update(self) -> None:
        """PyTTI's clamps: palette in [0, inertia], value in [0,1], logits >= 0."""
        self.palette.clamp_(0, INERTIA)
        self.value.clamp_(0, 1)
        self.logits.clamp_(min=0)

    @torch.no_grad()
    def swatch(self) -> Tensor:
        """The palettes as a picture [1,3,K*32,P*16]: a column per palette, dark at the top."""
        colours = self.colours().permute(2, 0, 1)[None]  # [1,3,K,P]
        return colours.repeat_interleave(SWATCH[0], 2).repeat_interleave(SWATCH[1], 3)


def hdr_loss(palette: Tensor, ramp: Tensor) -> Tensor:
    """MSE between each sorted palette's HSP brightness and the gamma ramp (PyTTI HdrLoss)."""
    return F.mse_loss(brightness(palette), ramp[:, None].expand(-1, palette.shape[1]))


def normalization_loss(logits: Tensor) -> Tensor:
    """PyTTI's PalletLoss: palettes used in different places, and each one used somewhere.

    The mean off-diagonal correlation of the per-pixel palette probabilities, plus the mean
    of 1/(sigma*N), which grows as a palette's probability stops varying over the image.
    Unlike PyTTI's, sigma has a floor of 1/N: a palette unused everywhere (an encoded flat
    image) adds 1 instead of infinity, and its gradient is 0 instead of NaN.
    """
    probs = logits[0].flatten(1).softmax(0)  # [P,N]
    n = probs.shape[1]
    sigma = (probs.var(dim=1, keepdim=True) + n**-2).sqrt()  # [P,1]
    centred = probs - probs.mean(dim=1, keepdim=True)
    corr = (centred @ centred.T) / (sigma * sigma.T * n)
    corr = corr - torch.diag(corr.diagonal())
    return corr.mean() + (sigma * n).reciprocal().mean()


def _ramp(size: int, gamma: float) -> Tensor:
    """Brightness levels 0..1 with gamma: linspace(0, 1, K)^gamma."""
    return torch.linspace(0, 1, size).pow(gamma)
