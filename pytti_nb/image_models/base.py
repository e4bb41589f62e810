"""The image-model interface (a differentiable image) and clamp_with_grad."""

from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import SettingsError, shown


class _ClampWithGrad(torch.autograd.Function):
    """Clamp whose gradient survives outside the range if it points back in (PyTTI tensor_tools)."""

    @staticmethod
    def forward(ctx, x, low, high):
        """Clamp `x` to [low, high], remembering `x` for the backward pass."""
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad):
        """Pass the gradient inside the range; outside, only where descent moves x back in."""
        (x,) = ctx.saved_tensors
        overshoot = x - x.clamp(ctx.low, ctx.high)  # >0 above the range, <0 below, 0 inside
        # Descent moves x by -grad: it heads back inside when grad and overshoot share a sign.
        return torch.where(grad * overshoot >= 0, grad, torch.zeros_like(grad)), None, None


def clamp_with_grad(x: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Clamp to [low, high]; gradients that would pull values back into range still flow."""
    return _ClampWithGrad.apply(x, low, high)


def resize_image(image: Tensor, height: int, width: int) -> Tensor:
    """Resize [b,c,h,w] to (height, width) without aliasing: box average down, bilinear up."""
    if image.shape[-2] >= height and image.shape[-1] >= width:
        # Area averaging is exact at integer factors, so nearest-upsampled pixel art round-trips.
        return F.interpolate(image, size=(height, width), mode="area")
    return F.interpolate(
        image, size=(height, width), mode="bilinear", antialias=True, align_corners=False
    )


class ImageModel(nn.Module):
    """A differentiable image: fp32 parameters that decode to a [1,3,H,W] picture in [0,1].

    Subclasses take `(width, height, pixel_size, *, generator, device)`; width and height are the
    parameter (base) resolution and the decoded image is `pixel_size` times larger.
    """

    default_lr: float = 0.02  # learning rate used when the settings leave it unset
    # PyTTI's latent losses (direct_loss: pytti): whether its direct loss compares latents
    # (VQGAN's LatentLoss), and the weight of the latent part of its Video Source flow loss
    direct_latent: bool = False
    latent_strength: float = 0.0

    def __init__(self, width: int, height: int, pixel_size: int = 1):
        super().__init__()
        _check_size(width, height, pixel_size)
        self.width, self.height, self.pixel_size = width, height, pixel_size

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the decoded image in pixels."""
        return self.width * self.pixel_size, self.height * self.pixel_size

    def decode(self) -> Tensor:
        """The image [1,3,height*pixel_size,width*pixel_size] in [0,1], differentiable."""
        raise NotImplementedError

    def encode(self, image: Tensor) -> None:
        """Set the parameters so decode() approximates `image` [1,3,h,w] in [0,1] (any size)."""
        raise NotImplementedError

    def reencode(self, image: Tensor) -> None:
        """Start a Video Source frame from its source frame `image` (not at a scene cut: there
        encode() runs); encode() unless the model keeps some state across frames."""
        self.encode(image)

    def latent(self, state: Tensor | None = None) -> Tensor | None:
        """What PyTTI's latent losses compare [1,c,h,w] (get_latent_tensor): of the current
        parameters, differentiable, or of a latent_state() moved by a warp; None without one."""
        return None

    def latent_state(self) -> Tensor | None:
        """A detached copy of what latent() is computed from, to keep and warp later."""
        return None

    def latent_target(self, image: Tensor) -> Tensor:
        """The latent an image encodes to, detached (PyTTI's make_latent); direct_latent models."""
        raise NotImplementedError

    def ready(self) -> None:
        """Called once the starting image is set (noise, or the encoded init image)."""

    def display(self) -> Tensor:
        """The image to show and save (VQGAN: its moving average); decode() by default."""
        return self.decode()

    def param_groups(self, lr: float) -> list[dict]:
        """The optimiser's parameter groups at base learning rate `lr`, each named."""
        return [{"name": "image", "params": list(self.parameters()), "lr": lr}]

    def steer(self, settings) -> None:
        """Follow a live edit of the model's steerable settings (regulariser weights)."""

    def swatch(self) -> Tensor | None:
        """A picture of the model's colours [1,3,h,w] to show beside the image, or None."""
        return None

    def regularizers(self) -> dict[str, Tensor]:
        """Model-specific losses by name, added to the objective each step."""
        return {}

    def update(self) -> None:
        """Hook run after every optimiser step (clamps, EMA); runs under no_grad."""

    def updated_buffers(self) -> list[torch.Tensor]:
        """The buffers update() writes (the step guard undoes them with a skipped step)."""
        return []

    def spatial_parameters(self) -> list[nn.Parameter]:
        """Parameters laid out as images (rows and columns last) that a warp moves in place."""
        return []

    @torch.no_grad()
    def warp(self, warp, optimizer=None) -> bool:
        """Move the image by an animation.warp.Warp, once per frame, on the device.

        The parameters are warped in place together with the optimiser's per-parameter
        moments (Adam's exp_avg and exp_avg_sq), so momentum follows the content. Returns True
        then; a model without spatial parameters decodes, warps and re-encodes instead, resets
        its moments (they no longer match the content) and returns False.
        """
        params = self.spatial_parameters()
        if not params:
            self.encode(warp.apply(self.decode()).clamp(0, 1))
            if optimizer is not None:
                for p in self.parameters():
                    optimizer.state.pop(p, None)
            return False
        for p in params:
            p.copy_(_warp_image_shaped(warp, p))
            state = optimizer.state.get(p, {}) if optimizer is not None else {}
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    warped = _warp_image_shaped(warp, value)
                    # bicubic overshoots: moments that were never negative must stay so
                    state[key] = torch.where((value >= 0).all(), warped.clamp_min(0), warped)
        self.update()
        return True


def _check_size(width: int, height: int, pixel_size: int) -> None:
    """Raise SettingsError unless width, height and pixel_size are whole numbers >= 1."""
    given = {"width": width, "height": height, "pixel_size": pixel_size}
    problems = [
        f"{name} is {shown(value)}; it must be a whole number >= 1"
        for name, value in given.items()
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1
    ]
    if problems:
        raise SettingsError(problems)


def _warp_image_shaped(warp, tensor: Tensor) -> Tensor:
    """Warp a tensor whose last two dims are rows and columns, keeping its shape."""
    image = tensor.reshape(1, -1, *tensor.shape[-2:])
    return warp.apply(image).reshape(tensor.shape)
