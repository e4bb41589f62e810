"""CLIP perceptors loaded through open_clip: spec parsing, validation, loading and frozen encoders.

A perceptor spec is one of:
  MODEL@TAG        an open_clip model with one of its pretrained tags ("ViT-B-32@laion2b_s34b_b79k")
  MODEL@FILE       an open_clip model with a local weights file ("ViT-B-32-quickgelu@/w/ViT-B-32.pt")
  MODEL            MODEL@openai when open_clip has OpenAI weights for MODEL
  hf-hub:ORG/NAME  an open_clip model on the Hugging Face hub (config and weights)
  local-dir:FOLDER a folder with open_clip_config.json and a weights file (open_clip's own format;
                   this is how a custom architecture is loaded from local files)
  demo             the bundled offline perceptor (pytti_nb/demo/model, a local-dir)
`@` never occurs in open_clip model names or hub ids, so it separates MODEL from TAG or FILE.
A local-dir's open_clip_config.json is checked before open_clip sees it (check_open_clip_config):
read within a size bound, every key's type and range, the model's parameter count worked out and
refused above MAX_PERCEPTOR_PARAMETERS, and no timm or Hugging Face tower or tokenizer.
PyTTI spellings such as "ViT-B/32" and "ViT-L/14@336px" are accepted as aliases.

torch and open_clip are imported where they are used: checking a demo or local-dir spec (what
`validate` does) must not pay the seconds their import takes.
"""

from __future__ import annotations

import difflib
import functools
import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytti_nb.errors import PerceptorError, shown, shown_path

if TYPE_CHECKING:
    import torch

DEMO = "demo"
HF_HUB = "hf-hub:"
LOCAL_DIR = "local-dir:"
DEFAULT_TAG = "openai"
# open_clip's local-dir config file, as in pytti_nb.demo (whose import loads torch)
CONFIG_NAME = "open_clip_config.json"
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".npz")
PYTTI_ALIASES = {"ViT-L/14@336px": "ViT-L-14-336"}
ALLOWED = (
    "allowed: 'MODEL@TAG' or 'MODEL@/path/to/weights.pt' with MODEL from open_clip.list_models(), "
    "'hf-hub:ORG/NAME', 'local-dir:FOLDER' or 'demo'"
)


@dataclass(frozen=True)
class PerceptorSpec:
    """A parsed perceptor spec: an open_clip model name (or schema name) and a tag or weights path."""

    model: str
    pretrained: str | None = None

    def __str__(self):
        """The canonical spec text."""
        return self.model if self.pretrained is None else f"{self.model}@{self.pretrained}"

    @property
    def kind(self):
        """One of 'demo', 'hf-hub', 'local-dir', 'file', 'tag'."""
        if self.model == DEMO:
            return "demo"
        if self.model.startswith(HF_HUB):
            return "hf-hub"
        if self.model.startswith(LOCAL_DIR):
            return "local-dir"
        return "file" if _looks_like_path(self.pretrained) else "tag"


def parse_perceptor_spec(text: str) -> PerceptorSpec:
    """Parse spec text (syntax only, plus the default tag); raises PerceptorError if malformed."""
    if not isinstance(text, str) or not text.strip():
        raise PerceptorError(f"perceptor {shown(text)} is empty or not text; {ALLOWED}")
    text = text.strip()
    for alias, name in PYTTI_ALIASES.items():
        if text == alias or text.startswith(alias + "@"):
            text = name + text[len(alias) :]
    if text == DEMO or text.startswith(LOCAL_DIR):
        return _parse_schema(text, LOCAL_DIR)
    if text.startswith(HF_HUB):
        return _parse_schema(text, HF_HUB)
    model, sep, pretrained = text.partition("@")
    # PyTTI and OpenAI CLIP write "ViT-B/32"; open_clip's own name is "ViT-B-32".
    model = model.strip().replace("/", "-")
    pretrained = pretrained.strip()
    if not model or (sep and not pretrained):
        raise PerceptorError(
            f"perceptor {shown(text)} has an empty model or pretrained part around '@'; {ALLOWED}"
        )
    if not sep:
        from open_clip.pretrained import list_pretrained_tags_by_model

        pretrained = DEFAULT_TAG if DEFAULT_TAG in list_pretrained_tags_by_model(model) else None
    return PerceptorSpec(model, pretrained)


def _parse_schema(text, prefix):
    """Parse 'demo', 'hf-hub:ORG/NAME' or 'local-dir:FOLDER'."""
    if text == DEMO:
        return PerceptorSpec(DEMO)
    rest = text[len(prefix) :]
    if not rest:
        raise PerceptorError(f"perceptor {shown(text)} names nothing after {prefix!r}; {ALLOWED}")
    if prefix == HF_HUB and ("@" in rest or rest.count("/") != 1):
        raise PerceptorError(
            f"perceptor {shown(text)}: a hub model is written 'hf-hub:ORG/NAME' with no '@TAG' "
            "(the weights come from the hub repository)"
        )
    if prefix == HF_HUB:
        from pytti_nb.models import network

        problem = network.hub_id_problem(rest)
        if problem is not None:
            raise PerceptorError(
                f"perceptor {shown(text)} names no valid Hugging Face model id; {problem}"
            )
    return PerceptorSpec(text)


def _looks_like_path(pretrained):
    """Whether a pretrained part names a file rather than an open_clip tag."""
    if pretrained is None:
        return False
    return "/" in pretrained or os.sep in pretrained or pretrained.lower().endswith(WEIGHT_SUFFIXES)


def check_perceptor_spec(text: str, cache_dir: str | None = None) -> None:
    """Validate a spec without loading weights or touching the network; raises PerceptorError."""
    spec = parse_perceptor_spec(text)
    if cache_dir is not None and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        raise PerceptorError(
            f"perceptor cache directory {shown_path(cache_dir)} exists but is not a folder"
        )
    if spec.kind == "demo":
        _check_local_dir(text, _demo_dir())
    elif spec.kind == "local-dir":
        _check_local_dir(text, Path(spec.model[len(LOCAL_DIR) :]).expanduser())
    elif spec.kind in ("tag", "file"):
        _check_model_name(text, spec.model)
        _check_pretrained(text, spec)


def check_perceptor_weights(text: str, cache_dir: str | None = None) -> None:
    """Raise PerceptorError when a perceptor's weights are neither cached nor downloadable now.

    This is the check loading makes before it downloads (a cache lookup, else a probe of the
    host of at most network.PROBE_TIMEOUT_S), so `validate` refuses what `render` would.
    """
    check_perceptor_spec(text, cache_dir)
    spec = parse_perceptor_spec(text)
    if spec.kind == "tag":
        from open_clip.pretrained import get_pretrained_cfg

        tag_cfg = get_pretrained_cfg(spec.model, spec.pretrained)
        if not _cached_tag_weights(tag_cfg, cache_dir):
            _require_network(spec, _download_host(tag_cfg))
    elif spec.kind == "hf-hub":
        from pytti_nb.models import network

        if _cached_hf_snapshot(spec.model[len(HF_HUB) :], cache_dir) is None:
            _require_network(spec, network.hf_host())


def _demo_dir() -> Path:
    """The demo perceptor's folder, found without importing pytti_nb.demo (it imports torch)."""
    return Path(__file__).parent.parent / "demo" / "model"


def _check_model_name(text, model):
    """Raise unless model is an open_clip built-in name, suggesting close names."""
    import open_clip

    models = open_clip.list_models()
    if model in models:
        return
    close = difflib.get_close_matches(model, models, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(m) for m in close)}?" if close else ""
    raise PerceptorError(
        f"perceptor {shown(text)}: unknown open_clip model {shown(model)}.{hint} "
        f"Allowed: a name from open_clip.list_models() ({len(models)} models, e.g. 'ViT-B-32', 'ViT-B-16', "
        "'RN50', 'ViT-L-14'), 'hf-hub:ORG/NAME', 'local-dir:FOLDER' or 'demo'"
    )


def _check_pretrained(text, spec):
    """Raise unless the pretrained part is a known tag of the model or a readable local file."""
    if spec.kind == "file":
        path = Path(spec.pretrained).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            raise PerceptorError(
                f"perceptor {shown(text)}: weights file {shown_path(spec.pretrained)} does not exist or is not readable; "
                "give the path of an open_clip/OpenAI checkpoint (.pt, .pth, .bin or .safetensors)"
            )
        return
    from open_clip.pretrained import list_pretrained_tags_by_model

    tags = list_pretrained_tags_by_model(spec.model)
    if spec.pretrained in tags:
        return
    listed = (
        ", ".join(tags)
        if tags
        else "none (open_clip ships no weights for it; use MODEL@/path/to/weights.pt)"
    )
    problem = (
        "needs a pretrained tag"
        if spec.pretrained is None
        else f"has no pretrained tag {shown(spec.pretrained)}"
    )
    raise PerceptorError(
        f"perceptor {shown(text)}: model {shown(spec.model)} {problem}; write '{spec.model}@TAG' with TAG one of: "
        f"{listed}; or '{spec.model}@/path/to/weights.pt' for a local file"
    )


def _check_local_dir(text, folder):
    """Raise unless folder holds open_clip_config.json and a weights file."""
    if not (folder / CONFIG_NAME).is_file():
        raise PerceptorError(
            f"perceptor {shown(text)}: folder {shown_path(folder, 100)} has no {CONFIG_NAME}; a local-dir perceptor "
            f"needs {CONFIG_NAME} (with 'model_cfg') and a .safetensors, .bin or .pth weights file"
        )
    if not _has_weights(folder):
        raise PerceptorError(
            f"perceptor {shown(text)}: folder {shown_path(folder, 100)} has no .safetensors, .bin or .pth weights file"
        )
    check_open_clip_config(text, folder)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """Map 'auto'/'fp32'/'fp16'/'bf16' to the perceptor dtype: auto is fp32 on CPU, bf16 or fp16 on GPUs."""
    # auto: bf16 on CUDA with compute capability >= 8.0, fp16 on older CUDA and on MPS. Explicit
    # values are honoured everywhere (fp16 on a CPU works but is slow). Images and Adam stay fp32.
    import torch

    explicit = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision in explicit:
        return explicit[precision]
    if precision != "auto":
        raise PerceptorError(
            f"precision {shown(precision)} is unknown; allowed: 'auto', 'fp32', 'fp16', 'bf16'"
        )
    device = torch.device(device)
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return torch.bfloat16 if major >= 8 else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


class Perceptor:
    """A frozen open_clip model that embeds images (differentiably) and texts (cached)."""

    def __init__(self, name, model, tokenizer, device, dtype):
        """Wrap a loaded open_clip model; freezes it and reads its input size and mean/std."""
        import open_clip
        import torch

        self.name = name
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.dtype = dtype
        size = model.visual.image_size
        self.input_shape = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        self.input_size = int(self.input_shape[0])
        cfg = open_clip.get_model_preprocess_cfg(model)
        self.mean = torch.tensor(cfg["mean"], device=self.device, dtype=torch.float32).view(
            1, 3, 1, 1
        )
        self.std = torch.tensor(cfg["std"], device=self.device, dtype=torch.float32).view(
            1, 3, 1, 1
        )
        self._text_cache = {}

    def __repr__(self):
        """Short description."""
        return f"Perceptor({self.name!r}, input_size={self.input_size}, dtype={self.dtype}, device={self.device})"

    @property
    def embed_dim(self):
        """Width of the embeddings."""
        return (
            int(self.model.text_projection.shape[-1])
            if hasattr(self.model, "text_projection")
            else None
        )

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Embed images [n,3,h,w] in [0,1] (fp32) to normalised fp32 [n,d], differentiable w.r.t. x."""
        import torch.nn.functional as F

        if tuple(x.shape[-2:]) != self.input_shape:
            x = F.interpolate(
                x, size=self.input_shape, mode="bilinear", align_corners=False, antialias=True
            )
        x = (x - self.mean) / self.std
        features = self.model.encode_image(x.to(self.dtype))
        return F.normalize(features.float(), dim=-1)

    def encode_images_reference(self, x: torch.Tensor) -> torch.Tensor:
        """encode_image without autograd, for image prompts and other fixed targets."""
        import torch

        with torch.no_grad():
            return self.encode_image(x)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed texts to normalised fp32 [k,d]; each distinct string is encoded once per perceptor."""
        import torch
        import torch.nn.functional as F

        texts = [texts] if isinstance(texts, str) else list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
        with torch.no_grad():
            if missing:
                tokens = self.tokenizer(missing).to(self.device)
                features = F.normalize(self.model.encode_text(tokens).float(), dim=-1)
                self._text_cache.update(zip(missing, features, strict=True))
            if not texts:
                return torch.empty(0, self.embed_dim or 0, device=self.device)
            return torch.stack([self._text_cache[t] for t in texts])


def load_perceptor(spec: PerceptorSpec, *, device, dtype, cache_dir=None) -> Perceptor:
    """Build an open_clip model for a parsed spec (downloading if needed) and wrap it."""
    import open_clip
    import torch

    from pytti_nb import demo

    lp_name = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    options = dict(device=device, precision=lp_name, cache_dir=cache_dir, require_pretrained=True)
    if spec.kind in ("demo", "local-dir"):
        folder = str(demo.model_dir()) if spec.kind == "demo" else spec.model[len(LOCAL_DIR) :]
        name = f"{LOCAL_DIR}{Path(folder).expanduser()}"
        check_open_clip_config(str(spec), Path(folder).expanduser())
        model = _create(spec, name, None, options)
        return Perceptor(str(spec), model, open_clip.get_tokenizer(name), device, dtype)
    if spec.kind == "hf-hub":
        return _load_hf_hub(spec, options, device, dtype)
    if spec.kind == "file":
        model = _create(spec, spec.model, str(Path(spec.pretrained).expanduser()), options)
        return Perceptor(str(spec), model, open_clip.get_tokenizer(spec.model), device, dtype)
    return _load_tag(spec, options, device, dtype)


def _load_tag(spec, options, device, dtype):
    """Load MODEL@TAG from the local cache when present, else download it."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    tag_cfg = get_pretrained_cfg(spec.model, spec.pretrained)
    # open_clip only warns when a tag was trained with QuickGELU (all OpenAI weights) and the model
    # config lacks it; the activations would then be wrong, so force it.
    options = dict(options, force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)))
    cached = _cached_tag_weights(tag_cfg, options["cache_dir"])
    if cached:
        # Loading the cached file directly skips the hub's online revision check (slow when offline).
        preprocess = {
            k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg
        }
        model = _create(spec, spec.model, cached, dict(options, force_preprocess_cfg=preprocess))
    else:
        _require_network(spec, _download_host(tag_cfg))
        model = _create(spec, spec.model, spec.pretrained, options, downloading=True)
    return Perceptor(str(spec), model, open_clip.get_tokenizer(spec.model), device, dtype)


def _load_hf_hub(spec, options, device, dtype):
    """Load hf-hub:ORG/NAME from the local hub cache when complete, else download it."""
    import open_clip

    from pytti_nb.models import network

    snapshot = _cached_hf_snapshot(spec.model[len(HF_HUB) :], options["cache_dir"])
    if snapshot is not None:
        name = f"{LOCAL_DIR}{snapshot}"
        return Perceptor(
            str(spec),
            _create(spec, name, None, options),
            open_clip.get_tokenizer(name),
            device,
            dtype,
        )
    _require_network(spec, network.hf_host())
    model = _create(spec, spec.model, None, options, downloading=True)
    tokenizer = open_clip.get_tokenizer(spec.model, cache_dir=options["cache_dir"])
    return Perceptor(str(spec), model, tokenizer, device, dtype)


def _create(spec, name, pretrained, options, downloading=False):
    """Call open_clip.create_model, turning its failures into PerceptorError."""
    try:
        return _create_model(name, pretrained, options)
    except PerceptorError:
        raise
    except Exception as error:  # open_clip raises RuntimeError, OSError, ValueError, hub errors...
        if downloading:
            raise _download_error(spec, f"the download failed: {error}") from error
        raise PerceptorError(
            f"perceptor {shown(str(spec))}: could not load the weights: {error}"
        ) from error


def _create_model(name, pretrained, options):
    """open_clip.create_model, retrying TorchScript (OpenAI .pt) files that weights_only refuses."""
    import open_clip

    try:
        return open_clip.create_model(name, pretrained=pretrained, weights_only=True, **options)
    except RuntimeError as error:
        # OpenAI's own checkpoints are TorchScript archives; torch.jit.load does not unpickle
        # arbitrary objects, so loading them without weights_only is acceptable.
        if "TorchScript" not in str(error):
            raise
        return open_clip.create_model(name, pretrained=pretrained, weights_only=False, **options)


def _download_error(spec, reason):
    """The PerceptorError for weights that cannot be fetched, with the offline alternatives."""
    model = spec.model if spec.kind == "tag" else "MODEL"
    return PerceptorError(
        f"could not download weights for {shown(str(spec))} (no network?): {reason}. "
        f"Use a local file: perceptors: ['{model}@/path/to/weights.pt'], "
        f"or the bundled offline model: perceptors: ['{DEMO}']"
    )


def _require_network(spec, host):
    """Raise the download error at once when the weights host cannot be reached."""
    from pytti_nb.models import network

    if network.surely_offline(host):
        raise _download_error(spec, f"{host} cannot be reached")


def _download_host(tag_cfg):
    """Host open_clip would download a tag's weights from (it prefers the hub)."""
    from pytti_nb.models import network

    if tag_cfg.get("hf_hub"):
        return network.hf_host()
    return urllib.parse.urlparse(tag_cfg.get("url", "")).hostname


def _cached_tag_weights(tag_cfg, cache_dir):
    """Path of a tag's already-downloaded weights file, or None (mirrors open_clip's cache layout)."""
    if tag_cfg.get("file"):
        return tag_cfg["file"]
    if tag_cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache
        from open_clip.pretrained import HF_WEIGHTS_NAME, _get_safe_alternatives

        repo, filename = os.path.split(tag_cfg["hf_hub"])
        filename = filename or HF_WEIGHTS_NAME
        for candidate in [*_get_safe_alternatives(filename), filename]:
            path = try_to_load_from_cache(repo, candidate, cache_dir=cache_dir)
            if isinstance(path, str):
                return path
    if tag_cfg.get("url"):
        folder = cache_dir or os.path.expanduser("~/.cache/clip")
        path = os.path.join(folder, os.path.basename(tag_cfg["url"]))
        if os.path.isfile(path):
            return path
    return None


def _cached_hf_snapshot(repo, cache_dir):
    """Folder of a hub repo's cached snapshot holding both config and weights, or None."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo, CONFIG_NAME, cache_dir=cache_dir)
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    return folder if _has_weights(folder) else None


def _has_weights(folder):
    """Whether folder holds a weights file open_clip's local-dir loader picks up."""
    return any(path.suffix in (".safetensors", ".bin", ".pth") for path in folder.iterdir())


# --- a local-dir perceptor's open_clip_config.json -------------------------------------------
# open_clip builds whatever model_cfg asks for, at full size, before it reads any weights; so
# every key is checked here and the model's size worked out from them first. Supported: CLIP
# with a plain ViT or a ModifiedResNet image tower and a plain text transformer (every open_clip
# model that is neither timm's nor Hugging Face's). Real models' values in ().

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
    from pytti_nb.models.network import whole

    side = whole(1, MAX_IMAGE_SIZE)
    return side(v) or (isinstance(v, (list, tuple)) and len(v) == 2 and all(map(side, v)))


def _resnet_layers(v) -> bool:
    """A ResNet tower's four stages' block counts."""
    from pytti_nb.models.network import whole

    each = whole(1, MAX_RESNET_BLOCKS)
    return isinstance(v, (list, tuple)) and len(v) == 4 and all(map(each, v))


@functools.cache
def _rules() -> dict:
    """The rules of model_cfg's sections: key -> (test, what is allowed, default)."""
    from pytti_nb.models.network import REQUIRED, boolean, number, one_of, whole

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
    from pytti_nb.errors import reason
    from pytti_nb.models.network import read_json_config

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
    from pytti_nb.models.network import finite

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
    from pytti_nb.models.network import checked, unknown_keys

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
