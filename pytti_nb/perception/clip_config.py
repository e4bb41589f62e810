"""A local-dir perceptor's open_clip_config.json, checked before open_clip builds anything.

open_clip builds whatever model_cfg asks for, at full size, before it reads any weights; so
every key is checked here and the model's size worked out from them first. Supported: CLIP
with a plain ViT or a ModifiedResNet image tower and a plain text transformer (every open_clip
model that is neither timm's nor Hugging Face's). Real models' values in (). Nothing here
imports torch or open_clip.
"""

import functools
from pathlib import Path

from ..errors import PerceptorError, reason, shown
from ..models.network import (
    REQUIRED,
    boolean,
    checked,
    finite,
    number,
    one_of,
    read_json_config,
    unknown_keys,
    whole,
)

CONFIG_NAME = "open_clip_config.json"  # open_clip's local-dir config file
MAX_PERCEPTOR_PARAMETERS = 5_000_000_000  # twice ViT-bigG-14's (2,539,567,105): 20 GB in float32
VIT_BIGG_PARAMETERS = 2_539_567_105
MAX_WIDTH = 8192  # a tower's width (ViT-bigG-14's: 1664 and 1280)
MAX_EMBED_DIM = 8192  # (ViT-bigG-14's: 1280)
MAX_LAYERS = 256  # transformer blocks (ViT-bigG-14's: 48 and 32)
MAX_RESNET_BLOCKS = 128  # one stage of a ResNet tower (RN50x64's: [3, 15, 36, 10])
MAX_IMAGE_SIZE = 2048  # (open_clip's: 224 to 512)
MAX_VISION_TOKENS = 16_384  # (image_size / patch_size)^2 (open_clip's: at most 1024)
MAX_CONTEXT = 4096  # text tokens (open_clip's: 77, SigLIP's 64 and 256)
MAX_VOCAB = 1_048_576  # (CLIP's: 49408, Gemma's 256000)
MAX_MLP_RATIO = 16  # (open_clip's: 4 to 5.4)
STD_RANGE = (1e-3, 1e3)  # preprocess_cfg's std (CLIP's: about 0.27)
MAX_ABS_MEAN = 1000.0
NOT_BUILT = (
    "a model open_clip builds or fetches by name cannot be bounded from this file; use "
    "'hf-hub:ORG/NAME' or a built-in open_clip name for it"
)


def _dims(v) -> bool:
    """A side (a whole number) or [height, width]."""
    side = whole(1, MAX_IMAGE_SIZE)
    return side(v) or (isinstance(v, (list, tuple)) and len(v) == 2 and all(map(side, v)))


def _resnet_layers(v) -> bool:
    """A ResNet tower's four stages' block counts."""
    each = whole(1, MAX_RESNET_BLOCKS)
    return isinstance(v, (list, tuple)) and len(v) == 4 and all(map(each, v))


@functools.cache
def _rules() -> dict:
    """The rules of model_cfg's sections: key -> (test, what is allowed, default)."""
    width = (whole(1, MAX_WIDTH), f"a whole number from 1 to {MAX_WIDTH}", REQUIRED)
    layers = whole(1, MAX_LAYERS)
    ratio = (number(0.01, MAX_MLP_RATIO), f"a number from 0.01 to {MAX_MLP_RATIO} (4.0)", 4.0)
    layer_scale = (lambda v: v is None or number(-1e3, 1e3)(v), "null or a number", None)
    flag = (boolean, "true or false", False)
    top = {
        "embed_dim": (
            whole(1, MAX_EMBED_DIM),
            f"a whole number from 1 to {MAX_EMBED_DIM} (ViT-B-32's: 512)",
            REQUIRED,
        ),
        "vision_cfg": (lambda v: isinstance(v, dict), "a mapping", REQUIRED),
        "text_cfg": (lambda v: isinstance(v, dict), "a mapping", REQUIRED),
        "quick_gelu": flag,
        "custom_text": flag,
        "init_logit_scale": (number(-100, 100), "a number from -100 to 100", 2.6592600),
        "init_logit_bias": (
            lambda v: v is None or number(-100, 100)(v),
            "null or a number from -100 to 100",
            None,
        ),  # fmt: skip
    }
    vision = {
        "image_size": (
            _dims,
            f"a whole number or [height, width], from 1 to {MAX_IMAGE_SIZE} (224)",
            224,
        ),
        "layers": (
            lambda v: layers(v) or _resnet_layers(v),
            f"a whole number from 1 to {MAX_LAYERS} (a ViT: 12), or 4 whole numbers from 1 to "
            f"{MAX_RESNET_BLOCKS} (a ResNet: [3, 4, 6, 3])",
            REQUIRED,
        ),
        "width": width,
        "head_width": (whole(1, MAX_WIDTH), f"a whole number from 1 to {MAX_WIDTH} (64)", 64),
        "patch_size": (
            lambda v: v is None or whole(1, MAX_IMAGE_SIZE)(v),
            "a whole number, at most image_size (16); null in a ResNet",
            16,
        ),
        "mlp_ratio": ratio,
        "ls_init_value": layer_scale,
        "patch_dropout": (number(0, 0.99), "a number from 0 to 0.99", 0.0),
        "no_ln_pre": flag,
        "final_ln_after_pool": flag,
        "pool_type": (one_of("tok", "avg"), "'tok' or 'avg'", "tok"),
        "pos_embed_type": (one_of("learnable"), "'learnable'", "learnable"),
        "output_tokens": flag,
    }
    text = {
        "context_length": (
            whole(1, MAX_CONTEXT),
            f"a whole number from 1 to {MAX_CONTEXT} (77)",
            77,
        ),
        "vocab_size": (whole(1, MAX_VOCAB), f"a whole number from 1 to {MAX_VOCAB} (49408)", 49408),
        "width": (whole(1, MAX_WIDTH), f"a whole number from 1 to {MAX_WIDTH} (512)", 512),
        "heads": (whole(1, MAX_WIDTH), f"a whole number from 1 to {MAX_WIDTH} (8)", 8),
        "layers": (layers, f"a whole number from 1 to {MAX_LAYERS} (12)", 12),
        "mlp_ratio": ratio,
        "ls_init_value": layer_scale,
        "embed_cls": flag,
        "pad_id": (whole(0, MAX_VOCAB), "a whole number, a token id (0)", 0),
        "eos_id": (whole(0, MAX_VOCAB), "a whole number, a token id (2)", 2),
        "no_causal_mask": flag,
        "final_ln_after_pool": flag,
        "pool_type": (
            one_of("argmax", "last", "first", "eos"),
            "'argmax', 'last', 'first' or 'eos'",
            "argmax",
        ),
        "proj_bias": flag,
        "proj_type": (one_of("linear", "none"), "'linear' or 'none'", "linear"),
        "output_tokens": flag,
    }
    return {"model_cfg": top, "vision_cfg": vision, "text_cfg": text}


TIMM = "a timm image tower is not supported: " + NOT_BUILT
HF_TEXT = "a Hugging Face text tower is not supported: " + NOT_BUILT
HF_TOKENIZER = "a Hugging Face tokenizer is not supported (CLIP's own is used)"
CUSTOM_BLOCKS = "custom attention blocks are not supported"
LAYER_ARGUMENTS = "arguments passed on to layers are not supported"
BLOCK_KEYS = (
    "block_type", "qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner",
    "scale_attn", "scale_fc",
)  # fmt: skip
TOWER_REFUSED = {
    **dict.fromkeys(BLOCK_KEYS, CUSTOM_BLOCKS),
    "act_kwargs": LAYER_ARGUMENTS,
    "norm_kwargs": LAYER_ARGUMENTS,
}
REFUSED_KEYS = {
    "model_cfg": {"multimodal_cfg": "a CoCa captioning model is not a perceptor"},
    "vision_cfg": {
        **TOWER_REFUSED,
        **dict.fromkeys(
            (
                "timm_model_name",
                "timm_model_pretrained",
                "timm_pool",
                "timm_proj",
                "timm_proj_bias",
                "timm_drop",
                "timm_drop_path",
            ),
            TIMM,
        ),  # fmt: skip
        **dict.fromkeys(
            ("attentional_pool", "attn_pooler_queries", "attn_pooler_heads"),
            "attentional pooling is not supported",
        ),
    },
    "text_cfg": {
        **TOWER_REFUSED,
        **dict.fromkeys(
            ("hf_model_name", "hf_model_pretrained", "hf_proj_type", "hf_pooler_type"), HF_TEXT
        ),  # fmt: skip
        **dict.fromkeys(("hf_tokenizer_name", "tokenizer_mode", "tokenizer_kwargs"), HF_TOKENIZER),
    },
}


def check_open_clip_config(text: str, folder: Path) -> int:
    """The parameter count of the model a local-dir's open_clip_config.json builds, every key
    checked and the count against MAX_PERCEPTOR_PARAMETERS, before anything is built; raises
    PerceptorError naming every bad key."""
    path = folder / CONFIG_NAME
    try:
        config = read_json_config(path)
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise PerceptorError(
            f"perceptor {shown(text)}: its {CONFIG_NAME} cannot be read ({reason(e)})"
        ) from None
    problems: list[str] = []
    model_cfg = config.get("model_cfg") if isinstance(config, dict) else None
    if not isinstance(model_cfg, dict):
        what = "a JSON object" if isinstance(config, dict) else f"{shown(config)}, not an object"
        raise PerceptorError(
            f"perceptor {shown(text)}: its {CONFIG_NAME} holds {what} with no 'model_cfg' "
            "mapping; allowed: {'model_cfg': {'embed_dim': ..., 'vision_cfg': {...}, "
            "'text_cfg': {...}}, 'preprocess_cfg': {...}}"
        )
    _check_preprocess(config.get("preprocess_cfg", {}), problems)
    shape = _checked_model_cfg(model_cfg, problems)
    if problems:
        raise PerceptorError(
            f"perceptor {shown(text)}: its {CONFIG_NAME} is not usable: "
            + "; ".join(problems[:20])
            + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
    count = clip_parameters(*shape)
    if count > MAX_PERCEPTOR_PARAMETERS:
        raise PerceptorError(
            f"perceptor {shown(text)}: its {CONFIG_NAME} builds {count:,} parameters "
            f"({4 * count / 1e9:,.1f} GB in float32); allowed: at most "
            f"{MAX_PERCEPTOR_PARAMETERS:,} (open_clip's largest, ViT-bigG-14, has "
            f"{VIT_BIGG_PARAMETERS:,})"
        )
    return count


def _check_preprocess(cfg, problems) -> None:
    """preprocess_cfg's mean and std: three numbers each, the std never near zero."""
    if not isinstance(cfg, dict):
        problems.append(f"preprocess_cfg {shown(cfg)}; allowed: a mapping")
        return
    for key, (low, high) in (("mean", (-MAX_ABS_MEAN, MAX_ABS_MEAN)), ("std", STD_RANGE)):
        value = cfg.get(key, [0.5] * 3)
        ok = isinstance(value, (list, tuple)) and len(value) == 3
        if not (ok and all(finite(v) and low <= v <= high for v in value)):
            problems.append(
                f"preprocess_cfg.{key} {shown(value)}; allowed: a list of 3 numbers "
                f"(red, green, blue) from {low:g} to {high:g}"
            )


def _checked_model_cfg(model_cfg: dict, problems: list[str]):
    """(top, vision, text): model_cfg's checked sections, defaults filled in; problems added."""
    rules = _rules()
    sections = []
    for name, where in (("model_cfg", "model_cfg"), ("vision_cfg", "vision_cfg"),
                        ("text_cfg", "text_cfg")):  # fmt: skip
        section = model_cfg if name == "model_cfg" else model_cfg.get(name)
        if not isinstance(section, dict):
            sections.append({})  # model_cfg's own check names it
            continue
        before = len(problems)
        unknown_keys(section, rules[name], where, problems, REFUSED_KEYS[name])
        if len(problems) > before:  # a tower of another kind: its keys' checks would be noise
            sections.append({})
            continue
        sections.append(checked(section, rules[name], where, problems))
    top, vision, text = sections
    if not problems:
        _check_heads(vision, text, problems)
    return top, vision, text


def _check_heads(vision: dict, text: dict, problems: list[str]) -> None:
    """The towers' widths split into whole heads; the image into at most so many patches."""
    resnet = isinstance(vision["layers"], (list, tuple))
    features = vision["width"] * 32 if resnet else vision["width"]
    if features % vision["head_width"]:
        problems.append(
            f"vision_cfg.head_width {vision['head_width']}; allowed: a divisor of "
            + ("32 x width" if resnet else "width")
            + f" ({features})"
        )
    if text["width"] % text["heads"]:
        problems.append(f"text_cfg.heads {text['heads']}; allowed: a divisor of width")
    size = vision["image_size"]
    height, width = (size, size) if isinstance(size, int) else size
    if resnet:
        if vision["width"] % 2 or not isinstance(size, int) or size % 32:
            problems.append(
                f"vision_cfg: a ResNet tower's width {vision['width']} and image_size "
                f"{shown(size)}; allowed: an even width, an image_size a multiple of 32"
            )
        return
    patch = vision["patch_size"]
    if patch is None:
        problems.append("vision_cfg.patch_size is missing; allowed: a ViT's is a whole number")
        return
    tokens = (height // patch) * (width // patch)
    if not 1 <= tokens <= MAX_VISION_TOKENS:
        problems.append(
            f"vision_cfg.patch_size {patch} cuts image_size {shown(size)} into {tokens:,} "
            f"patches; allowed: 1 to {MAX_VISION_TOKENS:,} (ViT-B-16's: 196)"
        )


def _block(width: int, ratio: float, layer_scale) -> int:
    """Parameters of one residual attention block (attention, MLP, two LayerNorms)."""
    hidden = int(width * ratio)
    scale = 2 * width if layer_scale is not None else 0
    return 4 * width * width + 2 * width * hidden + 9 * width + hidden + scale


def _bottleneck(inplanes: int, planes: int, stride: int) -> int:
    """Parameters of a ModifiedResNet Bottleneck (three convolutions, BatchNorms, shortcut)."""
    out = 4 * planes
    total = inplanes * planes + 9 * planes * planes + planes * out + 2 * (2 * planes + out)
    shortcut = stride > 1 or inplanes != out
    return total + (inplanes * out + 2 * out if shortcut else 0)


def _resnet_parameters(vision: dict, embed_dim: int) -> int:
    """Parameters of a ModifiedResNet image tower, block counts multiplied, not looped."""
    w, half = vision["width"], vision["width"] // 2
    total = 27 * half + 2 * half + 9 * half * half + 2 * half + 9 * half * w + 2 * w  # the stem
    inplanes = w
    for i, blocks in enumerate(vision["layers"]):
        planes = w * 2**i
        total += _bottleneck(inplanes, planes, 1 if i == 0 else 2)
        total += (blocks - 1) * _bottleneck(4 * planes, planes, 1)
        inplanes = 4 * planes
    features, grid = 32 * w, vision["image_size"] // 32
    attnpool = (grid * grid + 1) * features + 3 * (features * features + features)
    return total + attnpool + features * embed_dim + embed_dim


def _vit_parameters(vision: dict, embed_dim: int) -> int:
    """Parameters of a VisionTransformer image tower."""
    w, patch, size = vision["width"], vision["patch_size"], vision["image_size"]
    height, width = (size, size) if isinstance(size, int) else size
    grid = (height // patch) * (width // patch)
    total = 3 * patch * patch * w + w + (grid + 1) * w  # patches, class, positions
    total += 0 if vision["no_ln_pre"] else 2 * w
    total += vision["layers"] * _block(w, vision["mlp_ratio"], vision["ls_init_value"])
    return total + 2 * w + w * embed_dim


def clip_parameters(top: dict, vision: dict, text: dict) -> int:
    """The parameter count of the CLIP a checked model_cfg builds, worked out without building it."""
    embed_dim = top["embed_dim"]
    if isinstance(vision["layers"], (list, tuple)):
        total = _resnet_parameters(vision, embed_dim)
    else:
        total = _vit_parameters(vision, embed_dim)
    w, cls = text["width"], int(text["embed_cls"])
    total += text["vocab_size"] * w + (text["context_length"] + cls) * w + cls * w
    total += text["layers"] * _block(w, text["mlp_ratio"], text["ls_init_value"]) + 2 * w
    if text["proj_type"] != "none":
        total += w * embed_dim + (embed_dim if text["proj_bias"] else 0)
    return total + 1 + (top["init_logit_bias"] is not None)
