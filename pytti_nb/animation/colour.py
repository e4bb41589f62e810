"""Colour coherence: each animation frame's colours held to an anchor's, in CIELAB.

Over a long animation the optimiser's small colour pushes add up (an image drifts toward one
hue, or greys out as the warp's infill spreads). color_coherence matches every frame, right
after its warp, to an anchor: the first animation frame (`first`), or an image. The match is
Reinhard's transfer in CIELAB: each channel's mean and spread (standard deviation) moved to
the anchor's. LAB, because its channels are lightness and two opponent colour axes roughly
equal in perceived difference, so shifting them separately neither tints the lightness nor
darkens the colours as an RGB shift does; mean and spread, because they hold the overall tone
and contrast while leaving the frame's own colours in place (a histogram match would force
the anchor's exact colour mix onto content that has moved, and needs a sort per channel).
One reduction and two per-pixel transforms per frame, on the device.

Under `first` a new scene takes a new anchor: its first frame renders freely and every later
frame of the scene is matched to it, so a new prompt is not pulled back to the old scene's
colours.
"""

import torch
from torch import Tensor

# sRGB (D65) primaries to CIE XYZ, and the D65 white point
_RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_WHITE = (0.95047, 1.0, 1.08883)
_DELTA = 6 / 29
MAX_SPREAD_RATIO = 4.0  # a nearly flat frame's noise is not blown up into a full palette


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB [b,3,h,w] in [0,1] to CIELAB (L in [0,100], a and b about [-128,127])."""
    rgb = rgb.clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = rgb.new_tensor(_RGB_TO_XYZ)
    white = rgb.new_tensor(_WHITE).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear) / white
    f = torch.where(
        xyz > _DELTA**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29
    )
    fx, fy, fz = f.unbind(1)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), 1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """CIELAB [b,3,h,w] to sRGB in [0,1] (colours outside the sRGB gamut clipped)."""
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    f = torch.stack((fy + a / 500, fy, fy - b / 200), 1)
    white = lab.new_tensor(_WHITE).view(1, 3, 1, 1)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * white
    matrix = torch.linalg.inv(lab.new_tensor(_RGB_TO_XYZ))
    linear = torch.einsum("ij,bjhw->bihw", matrix, xyz).clamp(0, 1)
    srgb = torch.where(
        linear <= 0.0031308, linear * 12.92, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055
    )
    return srgb.clamp(0, 1)


def lab_stats(rgb: Tensor) -> Tensor:
    """[2,3]: the mean and the standard deviation of each LAB channel of an image [1,3,h,w]."""
    lab = rgb_to_lab(rgb).flatten(2)[0]  # [3, h*w]
    return torch.stack((lab.mean(1), lab.std(1, unbiased=False)))


def match_colours(rgb: Tensor, anchor: Tensor) -> Tensor:
    """The image [1,3,h,w] with each LAB channel's mean and spread moved to `anchor`'s
    (lab_stats of the anchor image)."""
    lab = rgb_to_lab(rgb)
    mean, spread = lab_stats(rgb).view(2, 1, 3, 1, 1)
    ratio = (anchor[1].view(1, 3, 1, 1) / spread.clamp_min(1e-3)).clamp(max=MAX_SPREAD_RATIO)
    return lab_to_rgb((lab - mean) * ratio + anchor[0].view(1, 3, 1, 1))


class ColourCoherence:
    """Holds each animation frame's colours to its anchor (the color_coherence setting)."""

    def __init__(self, device, image: Tensor | None = None):
        """`image` [1,3,h,w] is a fixed anchor (an image path); None anchors to the first frame."""
        self.device = device
        self.fixed = image is not None
        self.anchor = lab_stats(image.to(device)) if image is not None else None
        self.scene = None  # the scene whose first frame is the anchor (`first`)
        self.active = self.fixed  # whether the frame being started is matched

    @torch.no_grad()
    def start_frame(self, image_model, ctx) -> None:
        """Before the frame's warp: take the anchor where the image is a scene's finished first
        frame; whether this frame is matched (a scene's first frame renders freely)."""
        if self.fixed:
            return
        if self.scene != ctx.scene:  # the animation's first frame, or a new scene's
            self.scene, self.anchor, self.active = ctx.scene, None, False
            return
        if self.anchor is None:  # the image is the scene's first frame, finished
            self.anchor = lab_stats(image_model.decode().detach().clamp(0, 1))
        self.active = True

    @torch.no_grad()
    def apply(self, image_model) -> Tensor:
        """After the warp: set the image model to its colour-matched image (when this frame is
        matched); the image the frame starts from, detached, in [0,1]."""
        image = image_model.decode().detach().clamp(0, 1)
        if not self.active:
            return image
        image_model.encode(match_colours(image, self.anchor))
        return image_model.decode().detach().clamp(0, 1)

    def state_dict(self) -> dict:
        """The anchor and its scene (`first`), for a checkpoint."""
        if self.fixed:
            return {}
        anchor = None if self.anchor is None else self.anchor.cpu()
        return {"scene": self.scene, "anchor": anchor}

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        if self.fixed:
            return
        anchor = state.get("anchor")
        self.scene = state.get("scene")
        self.anchor = None if anchor is None else torch.as_tensor(anchor).to(self.device)


def colour_coherence(settings, device, assets=None) -> ColourCoherence | None:
    """The color_coherence of a run (None when off); an image anchor comes from the assets."""
    mode = settings.color_coherence
    if mode == "off":
        return None
    if mode == "first":
        return ColourCoherence(device)
    from ..perception.targets import to_tensor

    return ColourCoherence(device, to_tensor(assets.rgb[mode], device))
