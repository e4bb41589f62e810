"""Depth estimation for 3D animation and depth stabilisation, through Hugging Face transformers.

A depth_model setting is checked by depth_config (what `validate` does, without torch); here it
is loaded. transformers is imported only when a depth model is actually loaded, and loading
never trusts remote code (trust_remote_code=False).

Depth is returned in output pixels, the units of 3D motion, mapped as PyTTI mapped AdaBins
(Transforms.py 248): metres in [0.001, 10] onto [near_plane, far_plane], so with PyTTI's planes
(1 and 10000) a metre is about 1000 px. Metric models (depth_estimation_type "metric") give
metres, as AdaBins did. Relative models give inverse depth with no scale: it is normalised per
image and read as 1 m (nearest) to 10 m (farthest) first, within AdaBins' NYU range.

Both cameras (animation/three_d.py) take the same depth. The pinhole moves a point at depth D
by f * t / D for a move of t pixels; PyTTI's camera zooms and rolls by f / D times less again,
so its rates depend on the absolute depth even more: a metric model gives PyTTI's scale (and
its depth range r, R, mu), a relative one a fixed 1-10 m span whatever the scene.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PyttiError, shown
from .depth_config import (
    ALTERNATIVES,
    CONFIG,
    PREPROCESSOR,
    DepthModelError,
    DepthModelUnavailable,
    check_config,
    check_depth_model,
    preprocessing,
)

METRES = (1e-3, 10.0)  # the metric range PyTTI mapped onto [near_plane, far_plane]
RELATIVE_METRES = (1.0, 10.0)  # nearest and farthest point of a relative depth map
MAX_INPUT_PIXELS = 500_000  # PyTTI's cap on the depth model's input area


class DepthEstimator:
    """A frozen transformers depth model: images in [0,1] -> depth in output pixels."""

    def __init__(self, name, model, mean, std, size, multiple, device):
        self.name = name
        self.model = model.eval().requires_grad_(False).to(device)
        self.metric = getattr(model.config, "depth_estimation_type", "relative") == "metric"
        self.mean = torch.tensor(mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
        self.size, self.multiple = size, multiple

    def __repr__(self):
        """Short description."""
        kind = "metric" if self.metric else "relative"
        return f"DepthEstimator({self.name!r}, {kind}, input {self.size})"

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The model's input size for an image: short side near `size`, sides multiples."""
        # the short side at the model's size, the area capped as PyTTI capped it
        scale = min(self.size / min(height, width), (MAX_INPUT_PIXELS / (height * width)) ** 0.5)

        def fit(side):
            return max(self.multiple, round(side * scale / self.multiple) * self.multiple)

        return fit(height), fit(width)

    def raw(self, image: Tensor) -> Tensor:
        """The model's own output [b,1,H,W] at the image's size: metres, or inverse depth."""
        height, width = image.shape[-2:]
        x = F.interpolate(image.float(), size=self.input_size(height, width), mode="bicubic")
        x = (x - self.mean) / self.std
        out = self.model(pixel_values=x).predicted_depth[:, None]
        return F.interpolate(out, size=(height, width), mode="bilinear")

    def metres(self, image: Tensor) -> Tensor:
        """Depth [b,1,H,W] in metres, differentiable (depth stabilisation compares these).

        Relative models give inverse depth, normalised per image and read as 1 m (nearest)
        to 10 m (farthest).
        """
        raw = self.raw(image)
        if self.metric:
            return raw
        low = raw.amin(dim=(-2, -1), keepdim=True)
        high = raw.amax(dim=(-2, -1), keepdim=True)
        closeness = (raw - low) / (high - low).clamp_min(1e-6)
        near_m, far_m = RELATIVE_METRES
        return 1 / (1 / far_m + closeness * (1 / near_m - 1 / far_m))

    def depth(self, image: Tensor, near: float, far: float) -> Tensor:
        """Depth [b,1,H,W] in output pixels: metres in [0.001, 10] onto [near, far] (PyTTI)."""
        return metres_to_pixels(self.metres(image), near, far)


def metres_to_pixels(metres: Tensor, near: float, far: float) -> Tensor:
    """PyTTI's depth in output pixels: metres in [0.001, 10] (clamped) onto [near, far]."""
    fraction = (metres.clamp(*METRES) - METRES[0]) / (METRES[1] - METRES[0])
    return near + (far - near) * fraction


def load_depth_model(spec: str, *, device, cache_dir: str | None = None) -> DepthEstimator:
    """Load a depth model by hub id or folder (downloading into cache_dir if needed)."""
    check_depth_model(spec, cache_dir)
    spec = spec.strip()
    try:
        from transformers import AutoModelForDepthEstimation
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        check_config(spec, _hub_file(spec, CONFIG, cache_dir))  # a download's, before its weights
        model = AutoModelForDepthEstimation.from_pretrained(
            spec, cache_dir=cache_dir, trust_remote_code=False
        )
        settings = preprocessing(spec, _preprocessor_path(spec, cache_dir))
    except PyttiError:
        raise
    except Exception as e:  # transformers and the hub raise OSError, ValueError, HTTP errors...
        # a hub download that failed (the hub's and requests' errors are OSErrors) is the
        # machine lacking the model, as offline is; a folder that does not load is the setting's
        fetched = isinstance(e, OSError) and not Path(spec).expanduser().is_dir()
        raise (DepthModelUnavailable if fetched else DepthModelError)(
            f"depth_model {shown(spec)} could not be loaded: {e}; " + ALTERNATIVES
        ) from e
    return DepthEstimator(spec, model, device=device, **settings)


def _preprocessor_path(spec, cache_dir) -> Path:
    """Where a model's preprocessor_config.json is (downloading a hub model's if needed)."""
    return _hub_file(spec, PREPROCESSOR, cache_dir)


def _hub_file(spec, name, cache_dir) -> Path:
    """Where one of a model's files is: in its folder, or downloaded from the hub if needed."""
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return folder / name
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(spec, name, cache_dir=cache_dir))


def random_depth_anything(
    *, width, layers, heads, neck, fusion, head, size, mean=None, std=None, kind="relative"
):
    """A Depth Anything model with random weights and its preprocessor (for the benchmark and
    the tests): save both with save_pretrained and the folder loads like a downloaded model.
    `kind` is its depth_estimation_type: relative, or metric (metres up to 20, as Indoor's)."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * width,
        patch_size=14,
        image_size=size,
        out_indices=list(range(layers - 3, layers + 1)),  # the last four blocks
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=width,
        neck_hidden_sizes=list(neck),
        fusion_hidden_size=fusion,
        head_hidden_size=head,
        depth_estimation_type=kind,
        max_depth=20 if kind == "metric" else 1,
    )
    extra = {} if mean is None else {"image_mean": mean, "image_std": std}
    processor = DPTImageProcessor(
        size={"height": size, "width": size}, ensure_multiple_of=14, keep_aspect_ratio=True, **extra
    )
    return DepthAnythingForDepthEstimation(config), processor
