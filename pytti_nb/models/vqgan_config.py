"""taming's VQGAN configs, checked before anything is built (no torch here).

Configs are taming's YAML files (read with the settings files' bounded YAML loader), whose
`model.target` is taming.models.vqgan.VQModel, taming.models.vqgan.GumbelVQ or
taming.models.cond_transformer.Net2NetTransformer (its `first_stage_config` is the autoencoder,
whose checkpoint keys start with `first_stage_model.`). Only the autoencoder is built
(vqgan_net.VQGAN); the loss, the transformer and the conditioning model are dropped.

A config is checked at validation as at loading (check_config): each key's type and range
(DDCONFIG_RULES, PARAMS_RULES), then the parameter count its shape builds, worked out
arithmetically (vqgan_parameters), at most MAX_VQGAN_PARAMETERS.
"""

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ..errors import clipped, shown, shown_path
from . import network
from .network import REQUIRED, whole
from .vqgan_sources import VQGANError

TARGET_VQ = "taming.models.vqgan.VQModel"
TARGET_GUMBEL = "taming.models.vqgan.GumbelVQ"
TARGET_TRANSFORMER = "taming.models.cond_transformer.Net2NetTransformer"
TARGETS = (TARGET_VQ, TARGET_GUMBEL, TARGET_TRANSFORMER)
MAX_CONFIG_BYTES = 2**20  # a taming config (theirs are about 2 KB)
# A config's shape, checked before anything is built. The named models have 69M (openimages)
# to 76M (imagenet) parameters (vqgan_parameters of their configs); a config may build up to
# about five times the largest, 1.6 GB of float32 weights, and no more.
IMAGENET_PARAMETERS = 76_073_859
MAX_VQGAN_PARAMETERS = 400_000_000
MAX_CHANNELS = 4096  # ch, z_channels, embed_dim (taming's: 128, 256, 256)
MAX_LEVELS = 8  # ch_mult's entries, a downsampling factor up to 128 (taming's: f8 and f16)
MAX_CH_MULT = 64  # one entry of ch_mult (taming's: at most 4)
MAX_RES_BLOCKS = 32  # num_res_blocks (taming's: 2)
MAX_RESOLUTION = 65_536  # resolution and attn_resolutions (taming's: 256, [16] or [32])
MAX_CODES = 2**20  # n_embed (taming's: at most 16384)


@dataclasses.dataclass(frozen=True)
class VQGANShape:
    """What a checked taming config builds: the autoencoder's plain ddconfig, codebook size,
    code width, quantiser kind and parameter count."""

    ddconfig: dict
    n_embed: int
    embed_dim: int
    gumbel: bool
    parameters: int

    @property
    def factor(self) -> int:
        """The downsampling factor: image sides are multiples of it."""
        return 2 ** (len(self.ddconfig["ch_mult"]) - 1)


def read_config(path: Path) -> dict:
    """A taming YAML config, read within the settings files' bounds (size, nesting, aliases)."""
    from ..io.bounded import load_yaml

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ValueError(f"it is over {MAX_CONFIG_BYTES} bytes")
        config = load_yaml(data.decode("utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as e:  # UnicodeDecodeError is a ValueError
        raise VQGANError(
            f"VQGAN config {shown_path(path, 160)} cannot be read: {clipped(str(e), 300)}"
        ) from e
    if not isinstance(config, dict):
        raise VQGANError(
            f"VQGAN config {shown_path(path, 160)} is not a taming config (a mapping with 'model')"
        )
    return config


def _first_stage(config: dict) -> tuple[str, str, dict]:
    """(the config's target, the autoencoder's target, the autoencoder's params)."""
    model = config.get("model", config)
    if not isinstance(model, dict):
        raise VQGANError(f"the VQGAN config's model {shown(model)} is not a mapping")
    target = model.get("target")
    params = _mapping(model, "params")
    if target == TARGET_TRANSFORMER:
        first = params.get("first_stage_config")
        if not isinstance(first, dict) or first.get("target") not in (TARGET_VQ, TARGET_GUMBEL):
            found = first.get("target") if isinstance(first, dict) else first
            raise VQGANError(
                f"the VQGAN config's {TARGET_TRANSFORMER} has first_stage_config target "
                f"{shown(found)}; expected {TARGET_VQ} or {TARGET_GUMBEL}"
            )
        return target, first["target"], _mapping(first, "params", "first_stage_config.params")
    if target in (TARGET_VQ, TARGET_GUMBEL):
        return target, target, params
    raise VQGANError(
        f"the VQGAN config's model target {shown(target)} is not supported; "
        f"supported: {', '.join(TARGETS)}"
    )


def _mapping(section: dict, key: str, name: str | None = None) -> dict:
    """A config section's sub-mapping (empty where absent); raises VQGANError if not a mapping."""
    value = section.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise VQGANError(f"{name or key} {shown(value)}; allowed: a mapping of taming's settings")
    return value


def _whole_list(longest: int, low: int, high: int, *, shortest: int = 0) -> Callable[[Any], bool]:
    """A test for a list of shortest to longest whole numbers, each from low to high."""
    each = whole(low, high)
    return lambda v: (
        isinstance(v, (list, tuple)) and shortest <= len(v) <= longest and all(map(each, v))
    )


def _fraction(v) -> bool:
    """A number (never a bool) from 0 to 1."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1


def _is(expected) -> Callable[[Any], bool]:
    """A test for one bool (True == 1, so compared by identity)."""
    return lambda v: v is expected


# key: (test, what is allowed, default where optional or REQUIRED); real models' values in ()
DDCONFIG_RULES: MappingProxyType[str, tuple[Callable[[Any], bool], str, Any]] = MappingProxyType(
    {
        "ch": (
            whole(32, MAX_CHANNELS, 32),
            f"a multiple of 32 (GroupNorm's groups) from 32 to {MAX_CHANNELS} (taming's: 128)",
            REQUIRED,
        ),
        "out_ch": (whole(3, 3), "3 (an RGB autoencoder)", REQUIRED),
        "ch_mult": (
            _whole_list(MAX_LEVELS, 1, MAX_CH_MULT, shortest=1),
            f"a list of 1 to {MAX_LEVELS} whole numbers from 1 to {MAX_CH_MULT} "
            "(taming's: [1, 1, 2, 2, 4])",
            REQUIRED,
        ),
        "num_res_blocks": (
            whole(1, MAX_RES_BLOCKS),
            f"a whole number from 1 to {MAX_RES_BLOCKS} (taming's: 2)",
            REQUIRED,
        ),
        "attn_resolutions": (
            _whole_list(MAX_LEVELS, 1, MAX_RESOLUTION),
            f"a list of at most {MAX_LEVELS} whole numbers from 1 to {MAX_RESOLUTION} "
            "(taming's: [16])",
            REQUIRED,
        ),
        "in_channels": (whole(3, 3), "3 (an RGB autoencoder)", REQUIRED),
        "resolution": (
            whole(1, MAX_RESOLUTION),
            f"a whole number from 1 to {MAX_RESOLUTION} (taming's: 256)",
            REQUIRED,
        ),
        "z_channels": (
            whole(1, MAX_CHANNELS),
            f"a whole number from 1 to {MAX_CHANNELS} (taming's: 256)",
            REQUIRED,
        ),
        "double_z": (_is(False), "false (true is a KL autoencoder, not a VQGAN)", True),
        "dropout": (_fraction, "a number from 0 to 1 (taming's: 0.0)", 0.0),
        "resamp_with_conv": (
            lambda v: isinstance(v, bool),
            "true or false (taming's: true)",
            True,
        ),
        "give_pre_end": (_is(False), "false (true leaves the decoder's last layers out)", False),
        "tanh_out": (_is(False), "false (taming's tanh output is not supported)", False),
    }
)
PARAMS_RULES: MappingProxyType[str, tuple[Callable[[Any], bool], str, Any]] = MappingProxyType(
    {
        "n_embed": (
            whole(1, MAX_CODES),
            f"a whole number from 1 to {MAX_CODES} (taming's: 1024 to 16384)",
            REQUIRED,
        ),
        "embed_dim": (
            whole(1, MAX_CHANNELS),
            f"a whole number from 1 to {MAX_CHANNELS} (taming's: 256)",
            REQUIRED,
        ),
        "remap": (lambda v: v is None, "absent (remapped codebooks are not supported)", None),
    }
)
LEFT_OUT = ("give_pre_end", "tanh_out", "remap")  # checked to be off, then not passed on


def _checked(section: dict, rules, where: str, problems: list[str]) -> dict:
    """network.checked's values as plain Python, less the keys checked only to be off."""
    values = network.checked(section, rules, where, problems)
    return {key: _plain(value) for key, value in values.items() if key not in LEFT_OUT}


def _plain(value):
    """A config value as plain Python (lists for tuples, int and float for YAML's subclasses)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    return float(value) if isinstance(value, float) else int(value)


def check_config(config: dict) -> VQGANShape:
    """The shape a parsed taming config (the whole file's dict) builds, every value checked
    for type and range and the parameter count against MAX_VQGAN_PARAMETERS, before anything
    is built; raises VQGANError listing every bad key."""
    _, first_target, params = _first_stage(config)
    problems: list[str] = []
    checked = _checked(params, PARAMS_RULES, "params", problems)
    ddconfig = params.get("ddconfig")
    if not isinstance(ddconfig, dict):
        problems.append(f"params.ddconfig {shown(ddconfig)}; allowed: a mapping of the layers")
        ddconfig = {}
    else:
        ddconfig = _checked(ddconfig, DDCONFIG_RULES, "ddconfig", problems)
    gumbel = first_target == TARGET_GUMBEL
    if not problems and gumbel and checked["embed_dim"] != ddconfig["z_channels"]:
        # taming's GumbelQuantize projects quant_conv's embed_dim channels with a conv built
        # for z_channels inputs: such a model cannot run in taming either
        problems.append(
            f"params.embed_dim {checked['embed_dim']}; allowed: a GumbelVQ's equals "
            f"ddconfig.z_channels ({ddconfig['z_channels']})"
        )
    if problems:
        raise VQGANError("unsupported VQGAN config: " + "; ".join(problems))
    n_embed, embed_dim = checked["n_embed"], checked["embed_dim"]
    count = vqgan_parameters(ddconfig, n_embed, embed_dim, gumbel)
    if count > MAX_VQGAN_PARAMETERS:
        raise VQGANError(
            f"unsupported VQGAN config: it builds {count:,} parameters "
            f"({_gigabytes(4 * count)} in float32); allowed: at most "
            f"{MAX_VQGAN_PARAMETERS:,} (taming's largest, imagenet's, has "
            f"{IMAGENET_PARAMETERS:,})"
        )
    return VQGANShape(ddconfig, n_embed, embed_dim, gumbel, count)


def _gigabytes(n: int) -> str:
    """A byte count in GB, for messages."""
    return f"{n / 1e9:,.1f} GB"


def _conv(c_in: int, c_out: int, k: int) -> int:
    """Parameters of a k x k convolution with bias."""
    return c_in * c_out * k * k + c_out


def _resnet(c_in: int, c_out: int) -> int:
    """Parameters of a ResnetBlock: two GroupNorms, two 3x3 convolutions, maybe a shortcut."""
    shortcut = _conv(c_in, c_out, 1) if c_in != c_out else 0
    return 2 * c_in + _conv(c_in, c_out, 3) + 2 * c_out + _conv(c_out, c_out, 3) + shortcut


def _attn(c: int) -> int:
    """Parameters of an AttnBlock: a GroupNorm and four 1x1 convolutions."""
    return 2 * c + 4 * _conv(c, c, 1)


def vqgan_parameters(ddconfig: dict, n_embed: int, embed_dim: int, gumbel: bool) -> int:
    """The parameter count of the VQGAN a checked config builds, worked out without building
    it (arithmetic on the shape, never a loop over num_res_blocks)."""
    ch, mult, blocks = ddconfig["ch"], ddconfig["ch_mult"], ddconfig["num_res_blocks"]
    z, attn, levels = ddconfig["z_channels"], set(ddconfig["attn_resolutions"]), len(mult)
    resample = ddconfig["resamp_with_conv"]
    total, res = _conv(ddconfig["in_channels"], ch, 3), ddconfig["resolution"]
    for i, (c_in, c_out) in enumerate(zip((1, *mult), mult, strict=False)):  # the encoder
        c_in, c_out = ch * c_in, ch * c_out
        total += _resnet(c_in, c_out) + (blocks - 1) * _resnet(c_out, c_out)
        total += blocks * _attn(c_out) if res in attn else 0
        if i != levels - 1:
            total += _conv(c_out, c_out, 3) if resample else 0
            res //= 2
    top = ch * mult[-1]
    middle = 2 * _resnet(top, top) + _attn(top)
    total += middle + 2 * top + _conv(top, z, 3)  # the encoder's middle and output
    total += _conv(z, top, 3) + middle  # the decoder's input and middle
    c_in, res = top, ddconfig["resolution"] // 2 ** (levels - 1)
    for i in reversed(range(levels)):
        c_out = ch * mult[i]
        total += _resnet(c_in, c_out) + blocks * _resnet(c_out, c_out)
        total += (blocks + 1) * _attn(c_out) if res in attn else 0
        c_in = c_out
        if i != 0:
            total += _conv(c_out, c_out, 3) if resample else 0
            res *= 2
    total += 2 * c_in + _conv(c_in, ddconfig["out_ch"], 3)  # the decoder's output
    codebook = n_embed * embed_dim + (_conv(z, n_embed, 1) if gumbel else 0)
    return total + codebook + _conv(z, embed_dim, 1) + _conv(embed_dim, z, 1)
