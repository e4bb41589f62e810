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
PyTTI spellings such as "ViT-B/32" and "ViT-L/14@336px" are accepted as aliases.

torch and open_clip are imported where they are used: checking a demo or local-dir spec (what
`validate` does) must not pay the seconds their import takes.
"""

from __future__ import annotations

import difflib
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
    return Path(__file__).parent / "demo" / "model"


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
