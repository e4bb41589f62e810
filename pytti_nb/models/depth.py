"""Depth estimation for 3D animation and depth stabilisation, through Hugging Face transformers.

`depth_model` names a Hugging Face depth-estimation model (Depth Anything V2 Small by default,
downloaded into models_cache_dir or the hub cache), a local folder holding one (config.json,
weights and preprocessor_config.json, as save_pretrained writes them), or `none`: a flat plane
at the camera's focal distance, so 3D runs offline with no weights (zoom, pan and roll, no
parallax). transformers is imported only when a depth model is actually loaded.

Depth is returned in output pixels, the units of 3D motion, mapped as PyTTI mapped AdaBins:
metres in [0.001, 10] onto [near_plane, far_plane]. Metric models (depth_estimation_type
"metric") give metres; relative models give inverse depth, which is normalised per image and
read as 1 m (nearest) to 10 m (farthest) first.

A model's preprocessor_config.json (its input mean, std, size and side multiple) is checked
when the settings are validated (check_depth_model), by the same check loading uses: a model
folder nobody vouched for never divides by zero or normalises by a zero std mid-render.
"""

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PyttiError, reason, shown
from . import network

NONE = "none"
DEFAULT = "depth-anything/Depth-Anything-V2-Small-hf"
METRES = (1e-3, 10.0)  # the metric range PyTTI mapped onto [near_plane, far_plane]
RELATIVE_METRES = (1.0, 10.0)  # nearest and farthest point of a relative depth map
MAX_INPUT_PIXELS = 500_000  # PyTTI's cap on the depth model's input area
PREPROCESSOR = "preprocessor_config.json"
MAX_PREPROCESSOR_BYTES = 65_536  # Depth Anything's is about 500 bytes
DEFAULT_MEAN, DEFAULT_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's
DEFAULT_SIDE, DEFAULT_MULTIPLE = 518, 14  # Depth Anything's input side and patch size
MAX_SIDE = 4096  # a model's input side (Depth Anything's is 518; MAX_INPUT_PIXELS caps the area)
MAX_MULTIPLE = 1024
MAX_ABS_MEAN = 1000.0  # images are in [0, 1]: means near 0.5 and stds near 0.25 are usual
STD_RANGE = (1e-3, 1e3)  # a std below this multiplies the image by over a thousand
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
ALTERNATIVES = (
    "use depth_model: none (a flat plane: zoom, pan and roll, no parallax), or a local folder "
    "with a transformers depth model (config.json, weights and preprocessor_config.json)"
)


class DepthModelError(PyttiError):
    """A depth model cannot be had."""


def is_flat(spec: str) -> bool:
    """Whether a depth_model setting means the flat plane (no model)."""
    return spec.strip().lower() == NONE


def check_depth_model(spec: str, cache_dir: str | None = None) -> None:
    """Prove a depth model can be loaded, without loading it; raises DepthModelError."""
    spec = spec.strip()
    if is_flat(spec):
        return
    folder = Path(spec).expanduser()
    try:
        exists = folder.exists()
    except OSError:  # a name longer than the file system allows: not a folder
        exists = False
    if exists:
        _check_folder(spec, folder)
        preprocessing(spec, folder / PREPROCESSOR)
        return
    problem = network.hub_id_problem(spec)
    if problem is not None:
        raise DepthModelError(
            f"depth_model {shown(spec)} is neither a folder nor a Hugging Face model id "
            f"({problem}); or use none (a flat plane: no parallax)"
        )
    snapshot = _cached_snapshot(spec, cache_dir)
    if snapshot is not None:
        preprocessing(spec, snapshot / PREPROCESSOR)
    elif network.surely_offline(network.hf_host()):
        raise DepthModelError(
            f"depth_model {shown(spec)} is not downloaded yet and {network.hf_host()} cannot be "
            f"reached (no network?); " + ALTERNATIVES
        )


def _check_folder(spec, folder):
    """A local model folder needs a config and weights."""
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise DepthModelError(f"depth_model {shown(spec)}: no config.json in it; " + ALTERNATIVES)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise DepthModelError(
            f"depth_model {shown(spec)}: no weights ({' or '.join(WEIGHT_FILES)}) in it; "
            + ALTERNATIVES
        )


def _cached_snapshot(repo: str, cache_dir: str | None):
    """The cached hub snapshot folder of a model with config and weights, or None."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo, "config.json", cache_dir=cache_dir)
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    return folder if any((folder / name).is_file() for name in WEIGHT_FILES) else None


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
        fraction = (self.metres(image).clamp(*METRES) - METRES[0]) / (METRES[1] - METRES[0])
        return near + (far - near) * fraction


def load_depth_model(spec: str, *, device, cache_dir: str | None = None) -> DepthEstimator:
    """Load a depth model by hub id or folder (downloading into cache_dir if needed)."""
    check_depth_model(spec, cache_dir)
    spec = spec.strip()
    try:
        from transformers import AutoModelForDepthEstimation
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model = AutoModelForDepthEstimation.from_pretrained(spec, cache_dir=cache_dir)
        settings = preprocessing(spec, _preprocessor_path(spec, cache_dir))
    except PyttiError:
        raise
    except Exception as e:  # transformers and the hub raise OSError, ValueError, HTTP errors...
        raise DepthModelError(
            f"depth_model {shown(spec)} could not be loaded: {e}; " + ALTERNATIVES
        ) from e
    return DepthEstimator(spec, model, device=device, **settings)


def _preprocessor_path(spec, cache_dir) -> Path:
    """Where a model's preprocessor_config.json is (downloading a hub model's if needed)."""
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return folder / PREPROCESSOR
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(spec, PREPROCESSOR, cache_dir=cache_dir))


def preprocessing(spec: str, path: Path) -> dict:
    """Input mean, std, size and side multiple from a preprocessor_config.json (ImageNet's
    statistics and Depth Anything's sizes where it is missing), checked; raises
    DepthModelError naming every bad entry."""
    config = _read_preprocessor(spec, path)
    problems = []
    mean = _numbers(config, "image_mean", DEFAULT_MEAN, (-MAX_ABS_MEAN, MAX_ABS_MEAN), problems)
    std = _numbers(config, "image_std", DEFAULT_STD, STD_RANGE, problems)
    multiple = _integer(config, "ensure_multiple_of", DEFAULT_MULTIPLE, MAX_MULTIPLE, problems)
    side = _side(config, problems)
    if not problems and multiple > side:
        problems.append(
            f"ensure_multiple_of {multiple} is over the input side {side}; "
            "allowed: at most the side"
        )
    if problems:
        raise DepthModelError(
            f"depth_model {shown(spec)}: its {PREPROCESSOR} is not usable: "
            + "; ".join(problems)
            + "; fix it, or use depth_model: none (a flat plane)"
        )
    return {"mean": mean, "std": std, "size": side, "multiple": multiple}


def _read_preprocessor(spec, path: Path) -> dict:
    """The parsed preprocessor_config.json, bounded in size and nesting; {} when absent."""
    from ..settings import load_json

    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PREPROCESSOR_BYTES + 1)
        if len(data) > MAX_PREPROCESSOR_BYTES:
            raise ValueError(f"it is over {MAX_PREPROCESSOR_BYTES} bytes")
        config = load_json(data.decode("utf-8"))
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DepthModelError(
            f"depth_model {shown(spec)}: its {PREPROCESSOR} cannot be read ({reason(e)}); "
            + ALTERNATIVES
        ) from None
    if not isinstance(config, dict):
        raise DepthModelError(
            f"depth_model {shown(spec)}: its {PREPROCESSOR} holds {shown(config)}, "
            "not a JSON object; " + ALTERNATIVES
        )
    return config


def _is_number(value) -> bool:
    """A finite int or float (never a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)


def _finite(value) -> bool:
    """Whether a number is finite (an int too large for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _numbers(config, key, default, bounds, problems) -> list[float]:
    """Three numbers within bounds (one per colour channel) under key, or the default."""
    value = config.get(key, default)
    low, high = bounds
    ok = isinstance(value, (list, tuple)) and len(value) == 3
    if not (ok and all(_is_number(v) and low <= v <= high for v in value)):
        problems.append(
            f"{key} {shown(value)}; allowed: a list of 3 numbers (red, green, blue) "
            f"from {low:g} to {high:g}"
        )
        return list(default)
    return [float(v) for v in value]


def _integer(config, key, default, high, problems) -> int:
    """A whole number from 1 to high under key, or the default."""
    value = config.get(key, default)
    if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high):
        problems.append(f"{key} {shown(value)}; allowed: a whole number from 1 to {high}")
        return default
    return value


def _side(config, problems) -> int:
    """The input's short side: the smaller of size's height and width (or shortest_edge)."""
    size = config.get("size", {"height": DEFAULT_SIDE, "width": DEFAULT_SIDE})
    if isinstance(size, dict):
        keys = [k for k in ("height", "width", "shortest_edge") if k in size]
        sides = [size[k] for k in keys] or [DEFAULT_SIDE]
    else:
        sides = [size]
    if not all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in sides
    ):
        problems.append(
            f"size {shown(size)}; allowed: {{'height': H, 'width': W}} or a number, "
            f"whole numbers from 1 to {MAX_SIDE}"
        )
        return DEFAULT_SIDE
    return min(sides)


def random_depth_anything(*, width, layers, heads, neck, fusion, head, size, mean=None, std=None):
    """A Depth Anything model with random weights and its preprocessor (for the benchmark and
    the tests): save both with save_pretrained and the folder loads like a downloaded model."""
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
        depth_estimation_type="relative",
    )
    extra = {} if mean is None else {"image_mean": mean, "image_std": std}
    processor = DPTImageProcessor(
        size={"height": size, "width": size}, ensure_multiple_of=14, keep_aspect_ratio=True, **extra
    )
    return DepthAnythingForDepthEstimation(config), processor
