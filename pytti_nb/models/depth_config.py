"""A depth model's setting and files, checked before transformers sees them (no torch here).

`depth_model` names a Hugging Face depth-estimation model (Depth Anything V2 Small by default,
downloaded into models_cache_dir or the hub cache), a local folder holding one (config.json,
weights and preprocessor_config.json, as save_pretrained writes them), or `none`: a flat plane
at the camera's focal distance, so 3D runs offline with no weights.

A model's preprocessor_config.json (its input mean, std, size and side multiple) is checked
when the settings are validated (check_depth_model), by the same check loading uses: a model
folder nobody vouched for never divides by zero or normalises by a zero std mid-render. So is
its config.json (check_config): read within a size bound, the model a Depth Anything with a
DINOv2 backbone (what transformers builds from it is worked out from the keys that set its shape,
each checked for type and range, and refused above MAX_DEPTH_PARAMETERS before anything is
built), nothing named that transformers would fetch or run (auto_map, a backbone by name).
Whether a hub model is downloaded is a look in the hub cache by name. What depth a model gives
(depth_kind: metric metres or relative depth) is read from the same config.json, or known for
the official Depth Anything V2 ids; validation needs it for the depth range r, R, mu.
"""

import math
from pathlib import Path

from ..errors import ModelUnavailable, PyttiError, reason, shown
from . import network

NONE = "none"
DEFAULT = "depth-anything/Depth-Anything-V2-Small-hf"
PREPROCESSOR = "preprocessor_config.json"
DEFAULT_MEAN, DEFAULT_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's
DEFAULT_SIDE, DEFAULT_MULTIPLE = 518, 14  # Depth Anything's input side and patch size
MAX_SIDE = 4096  # a model's input side (Depth Anything's is 518; MAX_INPUT_PIXELS caps the area)
MAX_MULTIPLE = 1024
MAX_ABS_MEAN = 1000.0  # images are in [0, 1]: means near 0.5 and stds near 0.25 are usual
STD_RANGE = (1e-3, 1e3)  # a std below this multiplies the image by over a thousand
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CONFIG = "config.json"
MODEL_TYPES = ("depth_anything",)  # Depth Anything V1 and V2, relative and metric
BACKBONE_TYPES = ("dinov2",)
DEPTH_ANYTHING_LARGE_PARAMETERS = 335_315_649  # the largest released Depth Anything V2
MAX_DEPTH_PARAMETERS = 1_000_000_000  # three times that: 4 GB of float32 weights
MAX_WIDTH = 8192  # hidden sizes and channels (Depth Anything V2 Large's: at most 1024)
MAX_LAYERS = 128  # backbone blocks (Large's: 24; DINOv2 giant's: 40)
MAX_HEADS = 256  # (Large's: 16)
MAX_MLP_RATIO = 16  # (DINOv2's: 4)
MAX_STAGES = 8  # backbone outputs the neck reassembles (Depth Anything's: 4)
MAX_FACTOR = 16  # a reassemble factor, or its inverse (Depth Anything's: 4, 2, 1, 0.5)
PATCH_RANGE = (8, 64)  # DINOv2's: 14; below 8 the 500,000-pixel input is over 7,800 tokens
# what transformers builds when backbone_config is absent (DepthAnythingConfig's defaults)
DEFAULT_BACKBONE = {
    "model_type": "dinov2", "image_size": 518, "hidden_size": 384, "num_attention_heads": 6,
    "out_indices": [9, 10, 11, 12],
}  # fmt: skip
NEVER = {
    "auto_map": "code named by the model folder is never run",
    "trust_remote_code": "code named by the model folder is never run",
}
# what the official Depth Anything ids give, known before they are downloaded
SIZES = ("Small", "Base", "Large")
KNOWN_KINDS = {
    **{f"depth-anything/Depth-Anything-V2-{size}-hf": "relative" for size in SIZES},
    **{f"LiheYoung/depth-anything-{size.lower()}-hf": "relative" for size in SIZES},
    **{
        f"depth-anything/Depth-Anything-V2-Metric-{scene}-{size}-hf": "metric"
        for scene in ("Indoor", "Outdoor")
        for size in SIZES
    },
}
METRIC_EXAMPLE = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"  # PyTTI's AdaBins: NYU
ALTERNATIVES = (
    "use depth_model: none (a flat plane: zoom, pan and roll, no parallax), or a local folder "
    "with a transformers depth model (config.json, weights and preprocessor_config.json)"
)


class DepthModelError(PyttiError):
    """A depth model cannot be had."""


class DepthModelUnavailable(DepthModelError, ModelUnavailable):
    """A hub depth model that is not downloaded and cannot be downloaded now."""


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
        check_config(spec, folder / CONFIG)
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
        check_config(spec, snapshot / CONFIG)
        preprocessing(spec, snapshot / PREPROCESSOR)
    elif network.surely_offline(network.hf_host()):
        raise DepthModelUnavailable(
            f"depth_model {shown(spec)} is not downloaded yet and {network.hf_host()} cannot be "
            f"reached (no network?); " + ALTERNATIVES
        )


def depth_kind(spec: str, cache_dir: str | None = None, *, look: bool = True) -> str | None:
    """What depth a depth_model setting gives: 'flat' (none), 'metric' or 'relative', from its
    config.json (a folder's or a downloaded model's, when `look`) or the official ids; None
    when it cannot be known before the model is downloaded."""
    spec = spec.strip()
    if is_flat(spec):
        return "flat"
    config = _config_path(spec, cache_dir) if look else None
    if config is not None:
        try:
            kind = _read_json(spec, config, CONFIG).get("depth_estimation_type", "relative")
        except DepthModelError:  # check_depth_model reports it
            return None
        return kind if kind in ("metric", "relative") else None
    return KNOWN_KINDS.get(spec)


def _config_path(spec: str, cache_dir) -> Path | None:
    """A model's config.json: in its folder, or in its downloaded hub snapshot; else None."""
    folder = Path(spec).expanduser()
    try:
        if (folder / CONFIG).is_file():
            return folder / CONFIG
    except OSError:  # a name longer than the file system allows: not a folder
        pass
    if network.hub_id_problem(spec) is not None:
        return None
    snapshot = _cached_snapshot(spec, cache_dir)
    return snapshot / CONFIG if snapshot is not None else None


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
    config = network.hub_cached_file(repo, CONFIG, cache_dir)
    if config is None:
        return None
    folder = config.parent
    return folder if any((folder / name).is_file() for name in WEIGHT_FILES) else None


def preprocessing(spec: str, path: Path) -> dict:
    """Input mean, std, size and side multiple from a preprocessor_config.json (ImageNet's
    statistics and Depth Anything's sizes where it is missing), checked; raises
    DepthModelError naming every bad entry."""
    config = _read_json(spec, path, PREPROCESSOR) if path.is_file() else {}
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


def _read_json(spec, path: Path, name: str) -> dict:
    """A model's parsed JSON file (network.MAX_CONFIG_BYTES at most, nesting bounded), an object."""
    try:
        config = network.read_json_config(path)
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DepthModelError(
            f"depth_model {shown(spec)}: its {name} cannot be read ({reason(e)}); " + ALTERNATIVES
        ) from None
    if not isinstance(config, dict):
        raise DepthModelError(
            f"depth_model {shown(spec)}: its {name} holds {shown(config)}, "
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


# --- config.json: what transformers would build ----------------------------------------------


def _factor(v) -> bool:
    """A reassemble factor: a whole number from 1 to MAX_FACTOR, or the inverse of one."""
    if network.whole(1, MAX_FACTOR)(v):
        return True
    if not (network.finite(v) and 0 < v < 1):
        return False
    inverse = 1 / v
    return 2 <= round(inverse) <= MAX_FACTOR and abs(inverse - round(inverse)) < 1e-9


def _sizes(v) -> bool:
    """A list of 1 to MAX_STAGES channel counts."""
    each = network.whole(1, MAX_WIDTH)
    return isinstance(v, list) and 1 <= len(v) <= MAX_STAGES and all(map(each, v))


def _off(what: str):
    """A rule for a key that must be absent, null, false or empty: `what` says why."""
    return (lambda v: v is None or v is False or v == {}, f"null or absent ({what})", None)


def _width(default):
    """A rule for a channel count from 1 to MAX_WIDTH."""
    allowed = f"a whole number from 1 to {MAX_WIDTH} (Depth Anything V2 Small's: {default})"
    return (network.whole(1, MAX_WIDTH), allowed, default)


FETCHED = "a backbone named here is fetched and built unchecked"
TOP_RULES = {
    "model_type": (
        network.one_of(*MODEL_TYPES),
        " or ".join(map(repr, MODEL_TYPES)) + " (Depth Anything V1 and V2)",
        network.REQUIRED,
    ),
    "backbone_config": (lambda v: v is None or isinstance(v, dict), "a mapping", None),
    "backbone": _off(FETCHED),
    "use_timm_backbone": _off(FETCHED),
    "use_pretrained_backbone": _off(FETCHED),
    "backbone_kwargs": _off(FETCHED),
    "patch_size": (
        network.whole(*PATCH_RANGE),
        f"a whole number from {PATCH_RANGE[0]} to {PATCH_RANGE[1]} (14)",
        14,
    ),
    "reassemble_hidden_size": _width(384),
    "reassemble_factors": (
        lambda v: isinstance(v, list) and 1 <= len(v) <= MAX_STAGES and all(map(_factor, v)),
        f"a list of 1 to {MAX_STAGES} whole numbers from 1 to {MAX_FACTOR} or their inverses "
        "([4, 2, 1, 0.5])",
        [4, 2, 1, 0.5],
    ),
    "neck_hidden_sizes": (
        _sizes,
        f"a list of 1 to {MAX_STAGES} whole numbers from 1 to {MAX_WIDTH} ([48, 96, 192, 384])",
        [48, 96, 192, 384],
    ),
    "fusion_hidden_size": (
        network.whole(2, MAX_WIDTH),
        f"a whole number from 2 to {MAX_WIDTH} (64)",
        64,
    ),
    "head_hidden_size": _width(32),
    "head_in_index": (
        network.whole(-MAX_STAGES, MAX_STAGES - 1),
        f"a whole number from {-MAX_STAGES} to {MAX_STAGES - 1} (-1)",
        -1,
    ),
    "depth_estimation_type": (
        network.one_of("relative", "metric"),
        "'relative' or 'metric'",
        "relative",
    ),
    "max_depth": (network.number(1e-3, 1e6), "a number from 0.001 to 1000000 (1, or 20 or 80)", 1),
}
BACKBONE_RULES = {
    "model_type": (network.one_of(*BACKBONE_TYPES), "'dinov2'", "dinov2"),
    "hidden_size": _width(384),
    "num_hidden_layers": (
        network.whole(1, MAX_LAYERS),
        f"a whole number from 1 to {MAX_LAYERS} (12)",
        12,
    ),
    "num_attention_heads": (
        network.whole(1, MAX_HEADS),
        f"a whole number from 1 to {MAX_HEADS} (6), dividing hidden_size",
        12,
    ),
    "mlp_ratio": (
        network.whole(1, MAX_MLP_RATIO),
        f"a whole number from 1 to {MAX_MLP_RATIO} (4)",
        4,
    ),
    "image_size": (network.whole(1, MAX_SIDE), f"a whole number from 1 to {MAX_SIDE} (518)", 224),
    "patch_size": TOP_RULES["patch_size"],
    "num_channels": (network.one_of(3), "3 (RGB)", 3),
    "qkv_bias": (network.boolean, "true or false", True),
    "use_swiglu_ffn": (network.boolean, "true or false", False),
    "use_mask_token": (network.boolean, "true or false", True),
    "out_indices": (
        lambda v: v is None or (isinstance(v, list) and all(map(network.whole(0, MAX_LAYERS), v))),
        "a list of whole numbers from 0 to num_hidden_layers ([3, 6, 9, 12])",
        None,
    ),
}


def check_config(spec: str, path: Path) -> int:
    """The parameter count of the model a config.json builds, the keys that set its shape
    checked for type and range and the count against MAX_DEPTH_PARAMETERS, before anything is
    built; raises DepthModelError naming every bad key."""
    config = _read_json(spec, path, CONFIG)
    problems: list[str] = []
    _never(config, "config", problems)
    top = network.checked(config, TOP_RULES, "config", problems)
    raw = config.get("backbone_config")
    raw = DEFAULT_BACKBONE if raw is None else raw if isinstance(raw, dict) else {}
    _never(raw, "backbone_config", problems)
    backbone = network.checked(raw, BACKBONE_RULES, "backbone_config", problems)
    if not problems:
        _check_together(top, backbone, problems)
    if problems:
        raise DepthModelError(
            f"depth_model {shown(spec)}: its {CONFIG} is not usable: "
            + "; ".join(problems[:20])
            + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
            + "; fix it, or use depth_model: none (a flat plane)"
        )
    count = depth_anything_parameters(top, backbone)
    if count > MAX_DEPTH_PARAMETERS:
        raise DepthModelError(
            f"depth_model {shown(spec)}: its {CONFIG} builds {count:,} parameters "
            f"({4 * count / 1e9:,.1f} GB in float32); allowed: at most {MAX_DEPTH_PARAMETERS:,} "
            f"(Depth Anything V2 Large has {DEPTH_ANYTHING_LARGE_PARAMETERS:,}); "
            "or use depth_model: none (a flat plane)"
        )
    return count


def _never(section: dict, where: str, problems: list[str]) -> None:
    """A problem line for each key that would have transformers run or fetch code."""
    for key in NEVER.keys() & section.keys():
        problems.append(f"{where}.{key} {shown(section[key])} is not allowed: {NEVER[key]}")


def _check_together(top: dict, backbone: dict, problems: list[str]) -> None:
    """Keys that must agree: heads dividing the width, one backbone output per neck stage."""
    hidden, heads = backbone["hidden_size"], backbone["num_attention_heads"]
    if hidden % heads:
        problems.append(
            f"backbone_config.num_attention_heads {heads}; allowed: a divisor of hidden_size "
            f"({hidden})"
        )
    if top["reassemble_hidden_size"] != hidden:
        problems.append(
            f"config.reassemble_hidden_size {top['reassemble_hidden_size']}; allowed: the "
            f"backbone's hidden_size ({hidden})"
        )
    stages, layers = len(top["neck_hidden_sizes"]), backbone["num_hidden_layers"]
    outputs = backbone["out_indices"] or [layers]
    if len(top["reassemble_factors"]) != stages or len(outputs) != stages:
        problems.append(
            f"config.neck_hidden_sizes {shown(top['neck_hidden_sizes'])}; allowed: one per "
            f"reassemble factor and per backbone output (out_indices {shown(outputs)})"
        )
    if max(outputs) > layers or not -stages <= top["head_in_index"] < stages:
        problems.append(
            f"backbone_config.out_indices {shown(outputs)} and head_in_index "
            f"{top['head_in_index']}; allowed: indices of the {layers} layers and {stages} stages"
        )
    if backbone["image_size"] < backbone["patch_size"]:
        problems.append(
            f"backbone_config.image_size {backbone['image_size']}; allowed: at least its "
            f"patch_size ({backbone['patch_size']})"
        )


def _conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    """Parameters of a k x k convolution."""
    return c_in * c_out * k * k + (c_out if bias else 0)


def _dinov2_parameters(b: dict) -> int:
    """Parameters of a DINOv2 backbone (embeddings, blocks, final LayerNorm)."""
    h, patch = b["hidden_size"], b["patch_size"]
    patches = (b["image_size"] // patch) ** 2
    embeddings = h * (1 + b["use_mask_token"]) + (patches + 1) * h + _conv(3, h, patch)
    hidden = h * b["mlp_ratio"]
    if b["use_swiglu_ffn"]:
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        mlp = 2 * (h * hidden + hidden) + hidden * h + h
    else:
        mlp = 2 * h * hidden + hidden + h
    attention = 3 * (h * h + (h if b["qkv_bias"] else 0)) + h * h + h
    block = 2 * h + attention + h + 2 * h + mlp + h  # two LayerNorms, two layer scales
    return embeddings + b["num_hidden_layers"] * block + 2 * h


def depth_anything_parameters(top: dict, backbone: dict) -> int:
    """The parameter count of the Depth Anything a checked config builds, worked out without
    building it."""
    total, fusion = _dinov2_parameters(backbone), top["fusion_hidden_size"]
    for channels, factor in zip(top["neck_hidden_sizes"], top["reassemble_factors"], strict=True):
        total += _conv(top["reassemble_hidden_size"], channels, 1)
        if factor > 1:
            total += _conv(channels, channels, factor)  # a transposed convolution, as many
        elif factor < 1:
            total += _conv(channels, channels, 3)
        total += _conv(channels, fusion, 3, bias=False)
    stages = len(top["neck_hidden_sizes"])
    total += stages * (_conv(fusion, fusion, 1) + 4 * _conv(fusion, fusion, 3))  # fusion
    half, head = fusion // 2, top["head_hidden_size"]
    return total + _conv(fusion, half, 3) + _conv(half, head, 3) + _conv(head, 1, 1)
