"""Perceptor specs: parsed and checked (names, files, cached weights) without torch or open_clip.

A perceptor spec is one of:
  MODEL@TAG        an open_clip model with one of its pretrained tags ("ViT-B-32@laion2b_s34b_b79k")
  MODEL@FILE       an open_clip model with a local weights file ("ViT-B-32-quickgelu@/w/ViT-B-32.pt")
  MODEL            MODEL@openai when open_clip has OpenAI weights for MODEL
  hf-hub:ORG/NAME  an open_clip model on the Hugging Face hub (config and weights)
  local-dir:FOLDER a folder with open_clip_config.json and a weights file (open_clip's own format;
                   this is how a custom architecture is loaded from local files)
  demo             the bundled offline perceptor (pytti_nb/demo/model, a local-dir)
`@` never occurs in open_clip model names or hub ids, so it separates MODEL from TAG or FILE.
A local-dir's open_clip_config.json is checked before open_clip sees it (clip_config).
PyTTI spellings such as "ViT-B/32" and "ViT-L/14@336px" are accepted as aliases.

open_clip's names and tags come from open_clip_tables, and whether weights are downloaded
from a look in the caches by name: `validate` never pays the seconds importing torch takes.
"""

import difflib
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import PerceptorError, shown, shown_path
from ..models import network
from . import open_clip_tables
from .clip_config import CONFIG_NAME, check_open_clip_config

DEMO = "demo"
HF_HUB = "hf-hub:"
LOCAL_DIR = "local-dir:"
DEFAULT_TAG = "openai"
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
        tags = open_clip_tables.pretrained_tags(model)
        pretrained = DEFAULT_TAG if DEFAULT_TAG in tags else None
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
        _check_local_dir(text, demo_dir())
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
        if not cached_tag_weights(spec.model, spec.pretrained, cache_dir):
            require_network(spec, download_host(spec.model, spec.pretrained))
    elif spec.kind == "hf-hub":
        if cached_hf_snapshot(spec.model[len(HF_HUB) :], cache_dir) is None:
            require_network(spec, network.hf_host())


def weights_on_disk(text: str, cache_dir: str | None = None) -> bool:
    """Whether a (checked) perceptor's weights are on this machine: cached downloads, or local
    files (demo, local-dir, a weights file)."""
    spec = parse_perceptor_spec(text)
    if spec.kind == "tag":
        return cached_tag_weights(spec.model, spec.pretrained, cache_dir) is not None
    if spec.kind == "hf-hub":
        return cached_hf_snapshot(spec.model[len(HF_HUB) :], cache_dir) is not None
    return True


def demo_dir() -> Path:
    """The demo perceptor's folder."""
    from .. import demo

    return Path(str(demo.model_dir()))


def _check_model_name(text, model):
    """Raise unless model is an open_clip built-in name, suggesting close names."""
    models = open_clip_tables.model_names()
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
    tags = open_clip_tables.pretrained_tags(spec.model)
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
    if not has_weights(folder):
        raise PerceptorError(
            f"perceptor {shown(text)}: folder {shown_path(folder, 100)} has no .safetensors, .bin or .pth weights file"
        )
    check_open_clip_config(text, folder)


def download_error(spec, reason):
    """The PerceptorError for weights that cannot be fetched, with the offline alternatives."""
    model = spec.model if spec.kind == "tag" else "MODEL"
    return PerceptorError(
        f"could not download weights for {shown(str(spec))} (no network?): {reason}. "
        f"Use a local file: perceptors: ['{model}@/path/to/weights.pt'], "
        f"or the bundled offline model: perceptors: ['{DEMO}']"
    )


def require_network(spec, host):
    """Raise the download error at once when the weights host cannot be reached."""
    if network.surely_offline(host):
        raise download_error(spec, f"{host} cannot be reached")


def download_host(model: str, tag: str) -> str | None:
    """Host open_clip would download a tag's weights from (it prefers the hub)."""
    source = open_clip_tables.tag_source(model, tag)
    if source.get("hf_hub"):
        return network.hf_host()
    return urllib.parse.urlparse(source.get("url", "")).hostname


def cached_tag_weights(model: str, tag: str, cache_dir) -> str | None:
    """Path of a tag's already-downloaded weights file, or None (open_clip's cache layout)."""
    source = open_clip_tables.tag_source(model, tag)
    if source.get("file"):
        return source["file"]
    if source.get("hf_hub"):
        repo = source["hf_hub"].rpartition("/")[0]
        for candidate in source["hf_files"]:
            path = network.hub_cached_file(repo, candidate, cache_dir)
            if path is not None:
                return str(path)
    if source.get("url"):
        folder = cache_dir or os.path.expanduser("~/.cache/clip")
        path = os.path.join(folder, os.path.basename(source["url"]))
        if os.path.isfile(path):
            return path
    return None


def cached_hf_snapshot(repo, cache_dir) -> Path | None:
    """Folder of a hub repo's cached snapshot holding both config and weights, or None."""
    config = network.hub_cached_file(repo, CONFIG_NAME, cache_dir)
    if config is None:
        return None
    folder = config.parent
    return folder if has_weights(folder) else None


def has_weights(folder):
    """Whether folder holds a weights file open_clip's local-dir loader picks up."""
    return any(path.suffix in (".safetensors", ".bin", ".pth") for path in folder.iterdir())
