"""What a vqgan_model setting names: one of the downloadable models, or local taming files.

The `vqgan_model` setting is one of:

- a name from VQGAN_MODELS (PyTTI's names: imagenet, imagenet_1024, wikiart, sflckr, coco,
  openimages; case-insensitive). Its taming config and checkpoint are downloaded once into
  `<models_cache_dir>/vqgan/<name>.yaml` and `<name>.ckpt` (or, with no models_cache_dir,
  `$XDG_CACHE_HOME/pytti_nb/vqgan/`, by default `~/.cache/pytti_nb/vqgan/`);
- a path to a local taming checkpoint `<stem>.ckpt`, its config `<stem>.yaml` (or `.yml`)
  beside it (a path to the config, with the checkpoint beside it, works too);
- a folder holding exactly one `.ckpt` and one `.yaml`/`.yml` file.

A name wins over a file or folder of that name in the working folder (write ./imagenet for it).
"""

import dataclasses
import difflib
import os
from pathlib import Path
from types import MappingProxyType

from ..errors import ModelUnavailable, PyttiError, shown, shown_path

MIN_RATE = 500_000  # bytes/s: the overall deadline allows the expected size at this rate...
BASE_DEADLINE_S = 120.0  # ...plus this
SIZE_SLACK = 1.5  # a download over this many times the expected size is stopped
MAX_CHECKPOINT_BYTES = 16 * 2**30  # and any checkpoint over this

ALTERNATIVE = (
    "or set vqgan_model to a local taming checkpoint: the path of a .ckpt file with its "
    "config .yaml beside it (same name), or of a folder holding one of each"
)


class VQGANError(PyttiError):
    """A VQGAN model cannot be had (unknown name, missing file, failed download, mismatch)."""


class VQGANUnavailable(VQGANError, ModelUnavailable):
    """A named VQGAN that is not downloaded and cannot be downloaded now."""


@dataclasses.dataclass(frozen=True)
class VQGANInfo:
    """A downloadable VQGAN: where its taming config and checkpoint are, and what to expect."""

    name: str
    description: str
    config_url: str
    checkpoint_url: str
    sha256: str | None  # of the checkpoint; None: not published, trust on first use
    approx_bytes: int | None  # of the checkpoint, for the size bound; None: only the cap
    n_codes: int
    factor: int
    gumbel: bool = False

    @property
    def max_bytes(self) -> int:
        """The size over which a download of the checkpoint is stopped."""
        if self.approx_bytes is None:
            return MAX_CHECKPOINT_BYTES
        return min(int(self.approx_bytes * SIZE_SLACK), MAX_CHECKPOINT_BYTES)

    @property
    def deadline_s(self) -> float:
        """The most seconds a download of the checkpoint may take."""
        return BASE_DEADLINE_S + (self.approx_bytes or MAX_CHECKPOINT_BYTES) / MIN_RATE


_HEIBOX = "https://heibox.uni-heidelberg.de"

# PyTTI's models and URLs (pytti-core's image_models/vqgan.py), plus taming's ImageNet 1024.
# sha256: none of these checkpoints has a published hash; searches of public code (download
# scripts of VQGAN+CLIP notebooks, pytti, taming-transformers itself) found URLs and sizes but
# no hash, so every entry trusts on first use. Sizes: imagenet 980 MB, imagenet_1024 958 MB,
# openimages 376 MB, wikiart about 1 GB (nerdyrodent/VQGAN-CLIP's download_models.sh);
# sflckr exactly 4263525412 bytes (the wget log in taming's scripts/taming-transformers.ipynb);
# coco: unknown for batbot's first-stage file, so the 8.4 GB of the full COCO transformer
# checkpoint (download_models.sh) bounds it.
VQGAN_MODELS: MappingProxyType[str, VQGANInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            VQGANInfo(
                "imagenet",
                "taming's vqgan_imagenet_f16_16384 (f16, 16384 codes)",
                f"{_HEIBOX}/f/274fb24ed38341bfa753/?dl=1",
                f"{_HEIBOX}/f/867b05fc8c4841768640/?dl=1",
                sha256=None,
                approx_bytes=980_000_000,
                n_codes=16384,
                factor=16,
            ),
            VQGANInfo(
                "imagenet_1024",
                "taming's vqgan_imagenet_f16_1024 (f16, 1024 codes)",
                # the files of https://heibox.uni-heidelberg.de/d/8088892a516d4e3baf92/
                f"{_HEIBOX}/f/6ecf2af6c658432c8298/?dl=1",
                f"{_HEIBOX}/f/140747ba53464f49b476/?dl=1",
                sha256=None,
                approx_bytes=958_000_000,
                n_codes=1024,
                factor=16,
            ),
            VQGANInfo(
                "wikiart",
                "WikiArt f16, 16384 codes (EleutherAI)",
                "http://eaidata.bmk.sh/data/Wikiart_16384/wikiart_f16_16384_8145600.yaml",
                "http://eaidata.bmk.sh/data/Wikiart_16384/wikiart_f16_16384_8145600.ckpt",
                sha256=None,
                approx_bytes=1_000_000_000,
                n_codes=16384,
                factor=16,
            ),
            VQGANInfo(
                "sflckr",
                "taming's S-FLCKR landscapes (f16, 1024 codes; a Net2NetTransformer checkpoint)",
                f"{_HEIBOX}/d/73487ab6e5314cb5adba/files/"
                "?p=%2Fconfigs%2F2020-11-09T13-31-51-project.yaml&dl=1",
                f"{_HEIBOX}/d/73487ab6e5314cb5adba/files/?p=%2Fcheckpoints%2Flast.ckpt&dl=1",
                sha256=None,
                approx_bytes=4_263_525_412,
                n_codes=1024,
                factor=16,
            ),
            VQGANInfo(
                "coco",
                "taming's COCO first stage (f16, 8192 codes)",
                "http://batbot.ai/models/VQGAN/coco_first_stage.yaml",
                "http://batbot.ai/models/VQGAN/coco_first_stage.ckpt",
                sha256=None,
                approx_bytes=8_400_000_000,
                n_codes=8192,
                factor=16,
            ),
            VQGANInfo(
                "openimages",
                "taming's vqgan_gumbel_f8 (Open Images, f8, 8192 codes, Gumbel quantisation)",
                f"{_HEIBOX}/d/2e5662443a6b4307b470/files/?p=%2Fconfigs%2Fmodel.yaml&dl=1",
                f"{_HEIBOX}/d/2e5662443a6b4307b470/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
                sha256=None,
                approx_bytes=376_000_000,
                n_codes=8192,
                factor=8,
                gumbel=True,
            ),
        )
    }
)


def vqgan_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where named models are downloaded: cache_dir/vqgan, or ~/.cache/pytti_nb/vqgan."""
    if cache_dir:
        return Path(cache_dir).expanduser() / "vqgan"
    cache_home = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache_home).expanduser() / "pytti_nb" / "vqgan"


def cached_files(name: str, cache_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """The (config, checkpoint) paths a named model is (or will be) downloaded to."""
    folder = vqgan_folder(cache_dir)
    return folder / f"{name}.yaml", folder / f"{name}.ckpt"


@dataclasses.dataclass(frozen=True)
class Source:
    """What a vqgan_model spec names: its files, and the registry entry of a named model."""

    name: str
    config: Path
    checkpoint: Path
    info: VQGANInfo | None


def _looks_like_path(text: str) -> bool:
    """Whether a spec is meant as a path rather than a model name."""
    separators = {"/", os.sep, os.altsep} - {None}
    return (
        any(s in text for s in separators)
        or text.startswith(("~", "."))
        or text.lower().endswith((".ckpt", ".yaml", ".yml"))
        or _safely(Path(text).expanduser().exists)
    )


def _safely(probe) -> bool:
    """A path probe (exists, is_dir, is_file), False where the OS refuses to look (a name
    longer than the file system allows cannot name anything)."""
    try:
        return probe()
    except OSError:
        return False


def resolve(spec: str, cache_dir) -> Source:
    """The source a vqgan_model spec names; raises VQGANError for an unknown name or a local
    path that lacks its checkpoint or config."""
    text = spec.strip()
    if not text:
        raise VQGANError(
            f"vqgan_model is empty; use one of {', '.join(VQGAN_MODELS)}, {ALTERNATIVE}"
        )
    info = VQGAN_MODELS.get(text.lower())
    if info is not None:
        folder = vqgan_folder(cache_dir)
        if folder.exists() and not folder.is_dir():
            raise VQGANError(
                f"vqgan_model {shown(text)}: the cache folder {shown_path(folder, 100)} is a file"
            )
        return Source(info.name, *cached_files(info.name, cache_dir), info)
    if _looks_like_path(text):
        return _local(text)
    close = difflib.get_close_matches(text.lower(), list(VQGAN_MODELS), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise VQGANError(
        f"vqgan_model {shown(text)} is unknown; {hint}use one of {', '.join(VQGAN_MODELS)}, "
        + ALTERNATIVE
    )


def _local(text: str) -> Source:
    """The checkpoint and config of a local path spec (a .ckpt, a .yaml or a folder)."""
    path = Path(text).expanduser()
    if _safely(path.is_dir):
        checkpoints = sorted(path.glob("*.ckpt"))
        configs = sorted(p for p in path.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
        if len(checkpoints) != 1 or len(configs) != 1:
            raise VQGANError(
                f"vqgan_model {shown(text)}: a model folder needs exactly one .ckpt and one .yaml "
                f"file, it has {len(checkpoints)} and {len(configs)}"
            )
        return Source(path.name, configs[0], checkpoints[0], None)
    if not _safely(path.is_file):
        raise VQGANError(f"vqgan_model {shown(text)}: no such file or folder; " + _names_or_path())
    if path.suffix.lower() in (".yaml", ".yml"):
        checkpoint = path.with_suffix(".ckpt")
        if not checkpoint.is_file():
            raise VQGANError(
                f"vqgan_model {shown(text)}: its checkpoint {shown_path(checkpoint, 100)} is missing (the .ckpt "
                "must sit beside the config, with the same name)"
            )
        return Source(path.stem, path, checkpoint, None)
    configs = [path.with_suffix(s) for s in (".yaml", ".yml")]
    config = next((c for c in configs if c.is_file()), None)
    if config is None:
        raise VQGANError(
            f"vqgan_model {shown(text)}: its config {shown_path(configs[0], 100)} is missing (taming's model "
            "config, beside the checkpoint with the same name)"
        )
    return Source(path.stem, config, path, None)


def _names_or_path() -> str:
    """The hint listing what vqgan_model may be."""
    return f"use one of {', '.join(VQGAN_MODELS)}, " + ALTERNATIVE
