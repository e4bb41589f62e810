"""CLIP perceptors at run time: open_clip loading, precision and the frozen encoders.

A spec is parsed and checked by perception.specs first (what `validate` does, without torch);
loading builds the open_clip model it names, from the caches when the weights are there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PerceptorError, shown
from ..models import network
from . import specs
from .clip_config import check_open_clip_config
from .specs import HF_HUB, LOCAL_DIR, PerceptorSpec

if TYPE_CHECKING:
    import torch


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

    lp_name = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    options = dict(device=device, precision=lp_name, cache_dir=cache_dir, require_pretrained=True)
    if spec.kind in ("demo", "local-dir"):
        folder = str(specs.demo_dir()) if spec.kind == "demo" else spec.model[len(LOCAL_DIR) :]
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

    tag_cfg = get_pretrained_cfg(spec.model, spec.pretrained)  # its quick_gelu and preprocessing
    # open_clip only warns when a tag was trained with QuickGELU (all OpenAI weights) and the model
    # config lacks it; the activations would then be wrong, so force it.
    options = dict(options, force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)))
    cached = specs.cached_tag_weights(spec.model, spec.pretrained, options["cache_dir"])
    if cached:
        # Loading the cached file directly skips the hub's online revision check (slow when offline).
        preprocess = {
            k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg
        }
        model = _create(spec, spec.model, cached, dict(options, force_preprocess_cfg=preprocess))
    else:
        specs.require_network(spec, specs.download_host(spec.model, spec.pretrained))
        model = _create(spec, spec.model, spec.pretrained, options, downloading=True)
    return Perceptor(str(spec), model, open_clip.get_tokenizer(spec.model), device, dtype)


def _load_hf_hub(spec, options, device, dtype):
    """Load hf-hub:ORG/NAME from the local hub cache when complete, else download it."""
    import open_clip

    snapshot = specs.cached_hf_snapshot(spec.model[len(HF_HUB) :], options["cache_dir"])
    if snapshot is not None:
        name = f"{LOCAL_DIR}{snapshot}"
        return Perceptor(
            str(spec),
            _create(spec, name, None, options),
            open_clip.get_tokenizer(name),
            device,
            dtype,
        )
    specs.require_network(spec, network.hf_host())
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
            raise specs.download_error(spec, f"the download failed: {error}") from error
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
