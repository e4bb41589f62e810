"""VQGAN models for the image model: named downloads or local taming checkpoints, no taming install.

The `vqgan_model` setting is one of:

- a name from VQGAN_MODELS (PyTTI's names: imagenet, imagenet_1024, wikiart, sflckr, coco,
  openimages; case-insensitive). Its taming config and checkpoint are downloaded once into
  `<models_cache_dir>/vqgan/<name>.yaml` and `<name>.ckpt` (or, with no models_cache_dir,
  `$XDG_CACHE_HOME/pytti_nb/vqgan/`, by default `~/.cache/pytti_nb/vqgan/`);
- a path to a local taming checkpoint `<stem>.ckpt`, its config `<stem>.yaml` (or `.yml`)
  beside it (a path to the config, with the checkpoint beside it, works too);
- a folder holding exactly one `.ckpt` and one `.yaml`/`.yml` file.

A name wins over a file or folder of that name in the working folder (write ./imagenet for it).

Configs are taming's YAML files (read with the settings files' bounded YAML loader), whose
`model.target` is taming.models.vqgan.VQModel, taming.models.vqgan.GumbelVQ or
taming.models.cond_transformer.Net2NetTransformer (its `first_stage_config` is the autoencoder,
whose checkpoint keys start with `first_stage_model.`). Only the autoencoder's weights are
loaded (vqgan_net.VQGAN); the loss, the transformer and the conditioning model are dropped.

A config is checked before anything is built, at validation as at loading (check_config): each
key's type and range (DDCONFIG_RULES, PARAMS_RULES), then the parameter count its shape builds,
worked out arithmetically (vqgan_parameters), at most MAX_VQGAN_PARAMETERS. A checkpoint is
checked before torch reads it (check_checkpoint_archive): the sizes its zip archive declares,
against a bound derived from that parameter count (a zip bomb is refused from its table of
contents); torch then reads no record past its declared size.

Checkpoints are read with torch.load(weights_only=True); classes a Lightning checkpoint names
besides its tensors (callbacks, hyper-parameters) are replaced by an inert stand-in, never run.
Downloads are bounded in time and size, verified by sha256 and renamed into place only when
whole. None of the models has a published sha256 (see VQGAN_MODELS), so the hash of the first
complete download is recorded beside it in `<name>.ckpt.sha256` and checked on every later load
(trust on first use): a corrupted or truncated cache file is detected and downloaded again.

Nothing heavy is imported at module level: check_vqgan_model runs at validation time, before
torch is loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import http.client
import os
import pickle
import re
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import PyttiError, clipped, reason, shown, shown_path
from ..io.atomic import atomic_path, atomic_torch_save, atomic_write_text
from . import network
from .network import REQUIRED, whole

if TYPE_CHECKING:
    from .vqgan_net import VQGAN

TARGET_VQ = "taming.models.vqgan.VQModel"
TARGET_GUMBEL = "taming.models.vqgan.GumbelVQ"
TARGET_TRANSFORMER = "taming.models.cond_transformer.Net2NetTransformer"
TARGETS = (TARGET_VQ, TARGET_GUMBEL, TARGET_TRANSFORMER)
FIRST_STAGE_PREFIX = "first_stage_model."
AUTOENCODER_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.")

READ_TIMEOUT_S = 30.0  # one socket read (and the connection) may stall this long
MIN_RATE = 500_000  # bytes/s: the overall deadline allows the expected size at this rate...
BASE_DEADLINE_S = 120.0  # ...plus this
SIZE_SLACK = 1.5  # a download over this many times the expected size is stopped
MAX_CHECKPOINT_BYTES = 16 * 2**30  # and any checkpoint over this
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
# A checkpoint, checked before torch reads it. torch.save writes zip archives of stored
# (uncompressed) records, which loading memory-maps; the pickle and any compressed record are
# read into memory whole, so what the archive declares bounds what reading it takes.
CHECKPOINT_SLACK = 32  # a checkpoint may declare this many times its autoencoder's float32
# weights (sflckr's, a Net2NetTransformer with its optimiser state, declares about 15 times)
CHECKPOINT_BASE_BYTES = 64 * 2**20  # plus this
MAX_INFLATED_BYTES = 64 * 2**20  # compressed records inflate in memory (torch.save writes none)
MAX_COMPRESSION_RATIO = 100  # a compressed record inflating more is a zip bomb's (weights: ~1.1)
RATIO_FLOOR = 2**20  # records inflating to less are too small to matter
MAX_DIRECTORY_BYTES = 8 * 2**20  # the archive's table of contents (taming's: about 100 KB)
CHUNK = 2**20
NAMES_SHOWN = 5  # keys named in a mismatch error, before "and N more"
MAX_STUBBED_GLOBALS = 64

ALTERNATIVE = (
    "or set vqgan_model to a local taming checkpoint: the path of a .ckpt file with its "
    "config .yaml beside it (same name), or of a folder holding one of each"
)


class VQGANError(PyttiError):
    """A VQGAN model cannot be had (unknown name, missing file, failed download, mismatch)."""


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


def __getattr__(name: str):
    """`VQGAN` from vqgan_net, imported (with torch) only when asked for."""
    if name == "VQGAN":
        from .vqgan_net import VQGAN

        return VQGAN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- where files live


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


def _sidecar(checkpoint: Path) -> Path:
    """The file holding a downloaded checkpoint's sha256 (sha256sum's format)."""
    return checkpoint.with_name(checkpoint.name + ".sha256")


@dataclasses.dataclass(frozen=True)
class _Source:
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


def _resolve(spec: str, cache_dir) -> _Source:
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
        return _Source(info.name, *cached_files(info.name, cache_dir), info)
    if _looks_like_path(text):
        return _local(text)
    close = difflib.get_close_matches(text.lower(), list(VQGAN_MODELS), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise VQGANError(
        f"vqgan_model {shown(text)} is unknown; {hint}use one of {', '.join(VQGAN_MODELS)}, "
        + ALTERNATIVE
    )


def _local(text: str) -> _Source:
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
        return _Source(path.name, configs[0], checkpoints[0], None)
    if not _safely(path.is_file):
        raise VQGANError(f"vqgan_model {shown(text)}: no such file or folder; " + _names_or_path())
    if path.suffix.lower() in (".yaml", ".yml"):
        checkpoint = path.with_suffix(".ckpt")
        if not checkpoint.is_file():
            raise VQGANError(
                f"vqgan_model {shown(text)}: its checkpoint {shown_path(checkpoint, 100)} is missing (the .ckpt "
                "must sit beside the config, with the same name)"
            )
        return _Source(path.stem, path, checkpoint, None)
    configs = [path.with_suffix(s) for s in (".yaml", ".yml")]
    config = next((c for c in configs if c.is_file()), None)
    if config is None:
        raise VQGANError(
            f"vqgan_model {shown(text)}: its config {shown_path(configs[0], 100)} is missing (taming's model "
            "config, beside the checkpoint with the same name)"
        )
    return _Source(path.stem, config, path, None)


def _names_or_path() -> str:
    """The hint listing what vqgan_model may be."""
    return f"use one of {', '.join(VQGAN_MODELS)}, " + ALTERNATIVE


# ------------------------------------------------------------------------------------ checking


def _surely_offline(url: str) -> bool:
    """True when the URL's host cannot be reached (a fast TCP probe of its port)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.port is None:
        return network.surely_offline(parts.hostname)
    # network.surely_offline probes port 443; plain-http hosts (batbot.ai, eaidata.bmk.sh)
    # may not listen there, so probe the URL's own port
    proxies = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")
    if parts.hostname is None or any(os.environ.get(v) for v in proxies):
        return False  # behind a proxy a direct probe says nothing; let the download decide
    default = 443 if parts.scheme == "https" else 80
    return not network.reachable(parts.hostname, parts.port or default)


def _require_online(info: VQGANInfo, url: str, dest: Path) -> None:
    """Raise VQGANError at once when a file must be downloaded and its host is unreachable."""
    if _surely_offline(url):
        host = urllib.parse.urlsplit(url).hostname
        raise VQGANError(
            f"vqgan_model {info.name!r} is not downloaded yet ({shown_path(dest, 160)}) and {host} cannot be "
            f"reached (no network?); download {url} to {shown_path(dest, 160)} by hand, "
            + ALTERNATIVE
        )


def _config_named(spec: str, source: _Source) -> str:
    """' (CONFIG)' naming the config a message is about, unless the spec is that file: a local
    config is named by its file name (it sits beside the spec's checkpoint or in its folder)."""
    if source.info is not None:
        return f" ({shown_path(source.config, 100)})"
    if source.config == Path(spec.strip()).expanduser():
        return ""
    return f" ({shown(source.config.name)})"


def check_vqgan_model(spec: str, cache_dir: str | os.PathLike | None = None) -> None:
    """Prove a vqgan_model spec can be loaded, without loading it; raises VQGANError.

    An unknown name (with a did-you-mean), a local path missing its checkpoint or config, a
    config with a bad value or too many parameters (check_config), a checkpoint declaring more
    than its config warrants (check_checkpoint_archive), or a named model not yet downloaded
    whose host is unreachable are errors.
    """
    source = _resolve(spec, cache_dir)
    if source.config.is_file():  # a local config, or a named model's downloaded one
        shape = _checked_source(spec, source)
        if source.checkpoint.is_file():
            _checked_archive(spec, source, shape)
    if source.info is None:
        return
    for url, path in (
        (source.info.config_url, source.config),
        (source.info.checkpoint_url, source.checkpoint),
    ):
        if not path.is_file():
            _require_online(source.info, url, path)


def _checked_source(spec: str, source: _Source) -> VQGANShape:
    """The shape of a source's config, checked; its errors name the spec and the config."""
    try:
        return check_config(_read_config(source.config))
    except VQGANError as e:
        raise VQGANError(
            f"vqgan_model {shown(spec.strip())}{_config_named(spec, source)}: {e}"
        ) from None


def _checked_archive(spec: str, source: _Source, shape: VQGANShape) -> None:
    """check_checkpoint_archive of a source's checkpoint; its errors name the spec."""
    try:
        check_checkpoint_archive(source.checkpoint, shape.parameters)
    except VQGANError as e:
        raise VQGANError(f"vqgan_model {shown(spec.strip())}: {e}") from None


# ---------------------------------------------------------------------------------- downloading


def vqgan_factor(spec: str, cache_dir: str | os.PathLike | None = None) -> int:
    """The downsampling factor f of a vqgan_model (image sides are multiples of it), read from
    the registry or the local config without loading weights; raises VQGANError."""
    source = _resolve(spec, cache_dir)
    if source.info is not None:
        return source.info.factor
    return check_config(_read_config(source.config)).factor


class _RetryableDownloadError(Exception):
    """A download went wrong in a way a second try may not (network, truncation, hash)."""


def _download(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    deadline_s: float,
    sha256: str | None,
    validate: Callable[[Path], None],
) -> str:
    """Stream url into dest (a temp file beside it, renamed when whole, valid and, if sha256 is
    given, matching); returns the sha256 of what was written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "pytti_nb"})
    try:
        with atomic_path(dest) as tmp:  # an exception deletes the temp file
            with (
                urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as response,
                open(tmp, "wb") as out,
            ):
                length = response.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if length is not None and length > max_bytes:
                    raise VQGANError(
                        f"{url} is {length} bytes, over the {max_bytes} expected at most"
                    )
                received = 0
                while chunk := response.read(CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise VQGANError(f"{url} sent over {max_bytes} bytes, more than expected")
                    if time.monotonic() - start > deadline_s:
                        raise _RetryableDownloadError(f"it took over {deadline_s:.0f} s")
                    digest.update(chunk)
                    out.write(chunk)
                if length is not None and received != length:
                    raise _RetryableDownloadError(f"it stopped after {received} of {length} bytes")
            actual = digest.hexdigest()
            if sha256 is not None and actual != sha256.lower():
                raise _RetryableDownloadError(f"its sha256 {actual} is not the expected {sha256}")
            validate(tmp)  # e.g. a web page served in place of a dead link is never kept
    except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, IncompleteRead
        raise _RetryableDownloadError(str(e) or type(e).__name__) from e
    return actual


def _download_with_retry(info: VQGANInfo, url: str, dest: Path, **bounds) -> str:
    """_download, tried twice; raises VQGANError saying what to do when both tries fail."""
    print(f"pytti_nb: downloading {url} to {dest}", file=sys.stderr)
    reasons = []
    for _ in range(2):
        try:
            return _download(url, dest, **bounds)
        except VQGANError as e:  # too big, or not a config/checkpoint: a retry gets the same
            raise VQGANError(
                f"vqgan_model {info.name!r}: download stopped: {e}; download it by hand to "
                f"{shown_path(dest, 160)}, " + ALTERNATIVE
            ) from None
        except _RetryableDownloadError as e:
            reasons.append(str(e))
    raise VQGANError(
        f"vqgan_model {info.name!r}: downloading {url} failed twice ({'; '.join(reasons)}); "
        f"check the network and try again, or download it by hand to {shown_path(dest, 160)}, "
        + ALTERNATIVE
    )


def _validate_config(path: Path) -> None:
    """Raise VQGANError unless a downloaded file is a taming config of a supported model."""
    try:
        check_config(_read_config(path))
    except VQGANError as e:
        raise VQGANError(f"what was served is not a usable taming config ({e})") from None


def _validate_checkpoint(path: Path) -> None:
    """Raise VQGANError unless a downloaded file starts as torch.save's files do."""
    with open(path, "rb") as f:
        head = f.read(4)
    # a zip archive (torch >= 1.6), or a pickle (the legacy format starts with its protocol)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        raise VQGANError(f"what was served is not a torch checkpoint (it starts {head!r})")


def _file_sha256(path: Path) -> str:
    """The sha256 of a file (about 1-2 s per GB: hashlib's SHA-256 runs near 1 GB/s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _recorded_sha256(checkpoint: Path) -> str | None:
    """The sha256 recorded beside a downloaded checkpoint, or None."""
    try:
        return _sidecar(checkpoint).read_text().split()[0].lower()
    except (OSError, IndexError):
        return None


def _record_sha256(checkpoint: Path, sha256: str) -> None:
    """Record a checkpoint's sha256 beside it (`sha256sum -c` reads the file)."""
    atomic_write_text(_sidecar(checkpoint), f"{sha256}  {checkpoint.name}\n")


def _cached_checkpoint_ok(info: VQGANInfo, checkpoint: Path) -> bool:
    """Whether a cached checkpoint has its expected hash; a corrupt one is deleted."""
    expected = info.sha256 or _recorded_sha256(checkpoint)
    actual = _file_sha256(checkpoint)
    if expected is None:
        # no pin and no record (placed by hand, or a run was killed between the rename and
        # the record): trust this file from now on
        _record_sha256(checkpoint, actual)
        return True
    if actual == expected.lower():
        return True
    print(
        f"pytti_nb: {checkpoint} is corrupt (sha256 {actual}, expected {expected}); "
        "downloading it again",
        file=sys.stderr,
    )
    for path in (checkpoint, _sidecar(checkpoint)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return False


def _ensure_downloaded(info: VQGANInfo, config: Path, checkpoint: Path) -> None:
    """Download a named model's config and checkpoint unless cached and intact."""
    if not config.is_file():
        _require_online(info, info.config_url, config)
        bounds = dict(max_bytes=MAX_CONFIG_BYTES, deadline_s=BASE_DEADLINE_S, sha256=None)
        _download_with_retry(info, info.config_url, config, validate=_validate_config, **bounds)
    if checkpoint.is_file() and _cached_checkpoint_ok(info, checkpoint):
        return
    _require_online(info, info.checkpoint_url, checkpoint)
    bounds = dict(max_bytes=info.max_bytes, deadline_s=info.deadline_s, sha256=info.sha256)
    url = info.checkpoint_url
    sha256 = _download_with_retry(info, url, checkpoint, validate=_validate_checkpoint, **bounds)
    if info.sha256 is None:
        _record_sha256(checkpoint, sha256)  # trust on first use


# ------------------------------------------------------------------------------------- configs


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


def _read_config(path: Path) -> dict:
    """A taming YAML config, read within the settings files' bounds (size, nesting, aliases)."""
    from ..config.settings import load_yaml

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


def build_vqgan(config: dict, *, name: str = "vqgan") -> VQGAN:
    """A VQGAN with random weights, shaped by a parsed taming config (the whole file's dict),
    which is checked first (check_config)."""
    return _build(check_config(config), name)


def _build(shape: VQGANShape, name: str) -> VQGAN:
    """A VQGAN with random weights of a checked shape."""
    from .vqgan_net import VQGAN

    return VQGAN(
        ddconfig=shape.ddconfig,
        n_embed=shape.n_embed,
        embed_dim=shape.embed_dim,
        gumbel=shape.gumbel,
        name=name,
    )


# ---------------------------------------------------------------------------------- checkpoints


class _Opaque:
    """Stands in for any class or function a checkpoint names besides its tensors' own.

    Lightning checkpoints pickle callbacks, loop states and hyper-parameters, whose classes
    weights_only refuses. Mapping each such name to this class lets the weights_only
    unpickler finish: the named code is never imported or run, the stand-ins only keep
    the arguments and state given to them, and they are thrown away (only the tensors of
    `state_dict` are used; a state_dict entry that is not a tensor fails the key check).
    """

    def __new__(cls, *args, **kwargs):
        """A blank stand-in, whatever it is called with."""
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        """Keep the arguments, for debugging."""
        self.args = args

    def __setstate__(self, state):
        """Keep the state, for debugging."""
        self.state = state


_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+\.\w+) was not an allowed")


class _NeedsFullUnpickle(Exception):
    """The checkpoint holds objects the stand-in cannot replace."""


def _torch_load(path: Path) -> Any:
    """torch.load(weights_only=True), with stand-ins for the non-tensor classes it names."""
    import torch

    kwargs: dict[str, Any] = dict(map_location="cpu", weights_only=True)
    if zipfile.is_zipfile(path):
        # memory-mapped: retries re-read only the small pickle, and of a 4 GB transformer
        # checkpoint only the autoencoder's tensors are ever paged in
        kwargs["mmap"] = True
    stubbed: list[str] = []
    for _ in range(MAX_STUBBED_GLOBALS):
        try:
            with torch.serialization.safe_globals([(_Opaque, name) for name in stubbed]):
                return torch.load(path, **kwargs)
        except pickle.UnpicklingError as e:
            match = _UNSUPPORTED_GLOBAL.search(str(e))
            if match is None or match[1] in stubbed:
                raise _NeedsFullUnpickle(str(e).splitlines()[0]) from e
            stubbed.append(match[1])
    raise _NeedsFullUnpickle(f"it names over {MAX_STUBBED_GLOBALS} classes besides tensors")


def checkpoint_bound(parameters: int) -> int:
    """The most bytes a checkpoint may declare for an autoencoder of `parameters` weights."""
    return min(MAX_CHECKPOINT_BYTES, CHECKPOINT_BASE_BYTES + CHECKPOINT_SLACK * 4 * parameters)


def check_checkpoint_archive(path: Path, parameters: int) -> None:
    """Refuse a checkpoint whose reading could take more memory than its config warrants, from
    the sizes its zip archive declares, before torch reads any of it; raises VQGANError.

    This relies on declared sizes being what torch allocates (rather than reading each record
    through a bounded reader of our own): it inflates a compressed record into a buffer of its
    declared size and reads no further, and memory-maps stored records at their declared
    places, so a record holding more than it declares costs no more memory
    (tests/test_model_files.py measures it). A legacy checkpoint (a bare pickle, read into
    memory whole) is bounded by its file size.
    """
    bound, where = checkpoint_bound(parameters), f"VQGAN checkpoint {shown_path(path, 160)}"
    try:
        size, end = path.stat().st_size, _end_record(path)
    except OSError as e:
        raise VQGANError(f"{where} cannot be read ({reason(e)})") from None
    if end is None:
        if size > bound:
            raise VQGANError(
                f"{where} is {size:,} bytes, read into memory whole (a legacy pickle checkpoint); "
                f"allowed for its config's {parameters:,} parameters: at most {bound:,} bytes"
            )
        return
    if end > MAX_DIRECTORY_BYTES:  # before zipfile reads the table into objects
        raise VQGANError(
            f"{where} lists its records in {end:,} bytes; allowed: at most "
            f"{MAX_DIRECTORY_BYTES:,} (taming's need about 100,000)"
        )
    records = _records(path, where)
    declared = sum(r.file_size for r in records)
    if declared > bound:
        raise VQGANError(
            f"{where} declares {declared:,} bytes unpacked from {size:,}; allowed for its "
            f"config's {parameters:,} parameters: at most {bound:,} (a zip bomb?)"
        )
    packed = [r for r in records if r.compress_type != zipfile.ZIP_STORED]
    for r in packed:
        if r.file_size > RATIO_FLOOR and r.file_size > MAX_COMPRESSION_RATIO * r.compress_size:
            raise VQGANError(
                f"{where}: its record {shown(r.filename)} inflates {r.compress_size:,} bytes to "
                f"{r.file_size:,}; allowed: at most {MAX_COMPRESSION_RATIO} times (a zip bomb?)"
            )
    inflated = sum(r.file_size for r in packed)
    if inflated > MAX_INFLATED_BYTES:
        raise VQGANError(
            f"{where} holds {inflated:,} bytes compressed, which loading inflates in memory; "
            f"allowed: at most {MAX_INFLATED_BYTES:,} (torch.save compresses nothing: "
            "re-save it with torch.save)"
        )


def _end_record(path: Path) -> int | None:
    """The size of a zip archive's table of contents (its central directory), or None when
    the file is not a zip archive."""
    with open(path, "rb") as f:
        end = zipfile._EndRecData(f)  # zipfile's own reader of the end record (is_zipfile's)
    return end[zipfile._ECD_SIZE] if end else None


def _records(path: Path, where: str) -> list[zipfile.ZipInfo]:
    """The records a zip archive lists; raises VQGANError for a damaged one."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise VQGANError(
            f"{where} cannot be read ({clipped(str(e) or type(e).__name__, 200)}); a truncated "
            "or corrupt file? Delete it (a named model is then downloaded again)"
        ) from None


def _read_checkpoint(path: Path, *, pinned_sha256: str | None = None) -> dict:
    """The state dict of a taming checkpoint file (Lightning's {'state_dict': ...} or bare)."""
    import torch

    try:
        try:
            loaded = _torch_load(path)
        except _NeedsFullUnpickle as e:
            # a full unpickle can run code the file names: allowed only for a file whose
            # sha256 is the one pinned for a named model (never for local or trusted-on-
            # first-use files, whose content nobody vouched for)
            if pinned_sha256 is None or _file_sha256(path) != pinned_sha256.lower():
                raise VQGANError(
                    f"VQGAN checkpoint {shown_path(path, 160)} holds objects a safe load refuses ({e}); "
                    "re-save just its weights where you trust it: torch.save({'state_dict': "
                    "torch.load(path, weights_only=False)['state_dict']}, new_path)"
                ) from None
            loaded = torch.load(path, map_location="cpu", weights_only=False)
    except VQGANError:
        raise
    except Exception as e:  # zip, pickle and storage errors of many types
        raise VQGANError(
            f"VQGAN checkpoint {shown_path(path, 160)} cannot be read ({type(e).__name__}: {e}); a truncated or "
            "corrupt file? Delete it (a named model is then downloaded again)"
        ) from e
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        raise VQGANError(f"VQGAN checkpoint {shown_path(path, 160)} holds no state_dict")
    return state


def autoencoder_state(state: dict) -> dict:
    """The autoencoder's entries of a taming state dict, keyed as VQGAN's.

    Net2NetTransformer checkpoints prefix them with `first_stage_model.`; the loss
    (discriminator, LPIPS), transformer, conditioning model and any other keys are dropped.
    """
    prefix = FIRST_STAGE_PREFIX if any(k.startswith(FIRST_STAGE_PREFIX) for k in state) else ""
    out = {}
    for key, value in state.items():
        if key.startswith(prefix):
            key = key[len(prefix) :]
            if key.startswith(AUTOENCODER_PREFIXES):
                out[key] = value
    return out


def _some(keys: list[str]) -> str:
    """The first few keys of a list, and how many more."""
    shown = ", ".join(keys[:NAMES_SHOWN])
    more = len(keys) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def load_weights(model: VQGAN, state: dict, *, where: str = "the checkpoint") -> None:
    """Load a taming state dict into model, strictly: any missing or unexpected autoencoder
    key, or a tensor of another shape, raises VQGANError naming the keys."""
    import torch

    got = autoencoder_state(state)
    expected = model.state_dict()
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    reshaped = [
        f"{k} {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__} "
        f"(config: {tuple(expected[k].shape)})"
        for k, v in got.items()
        if k in expected and not (isinstance(v, torch.Tensor) and v.shape == expected[k].shape)
    ]
    problems = []
    for keys, what in ((missing, "missing"), (unexpected, "unexpected"), (reshaped, "mismatched")):
        if keys:
            noun = "key" if len(keys) == 1 else "keys"
            problems.append(f"{len(keys)} {what} {noun} ({_some(keys)})")
    if problems:
        raise VQGANError(f"{where} does not match its config: " + "; ".join(problems))
    model.load_state_dict(got, strict=True)


def load_vqgan_model(spec: str, *, device, cache_dir: str | os.PathLike | None = None) -> VQGAN:
    """The frozen VQGAN a vqgan_model spec names, on device (downloading it if needed)."""
    source = _resolve(spec, cache_dir)
    if source.info is not None:
        _ensure_downloaded(source.info, source.config, source.checkpoint)
    shape = _checked_source(spec, source)
    _checked_archive(spec, source, shape)  # before torch reads a byte of it
    model = _build(shape, source.name)
    pinned = source.info.sha256 if source.info is not None else None
    state = _read_checkpoint(source.checkpoint, pinned_sha256=pinned)
    load_weights(model, state, where=f"VQGAN checkpoint {source.checkpoint}")
    del state  # the checkpoint's other tensors (optimiser state, transformer) go now
    return model.eval().requires_grad_(False).to(device)


# ------------------------------------------------------------------------------------- writing


def first_stage_config(model: VQGAN) -> dict:
    """The taming config ({'target', 'params'}) of a VQGAN's autoencoder."""
    params: dict[str, Any] = {
        "embed_dim": model.e_dim,
        "n_embed": model.n_codes,
        "ddconfig": {k: list(v) if isinstance(v, tuple) else v for k, v in model.ddconfig.items()},
        "lossconfig": {"target": "taming.modules.losses.DummyLoss"},
    }
    if model.is_gumbel:
        params["kl_weight"] = 1.0e-8
        params["temperature_scheduler_config"] = {
            "target": "taming.lr_scheduler.LambdaWarmUpCosineScheduler",
            "params": {
                "warm_up_steps": 0,
                "max_decay_steps": 1000001,
                "lr_start": 0.9,
                "lr_max": 0.9,
                "lr_min": 1.0e-6,
            },
        }
    return {"target": TARGET_GUMBEL if model.is_gumbel else TARGET_VQ, "params": params}


def save_taming_checkpoint(
    model: VQGAN,
    ckpt_path: str | os.PathLike,
    config_path: str | os.PathLike,
    *,
    target: str = TARGET_VQ,
) -> None:
    """Write model as taming would: a Lightning-style {'state_dict': ...} checkpoint and its
    YAML config, for target VQModel, GumbelVQ or Net2NetTransformer.

    Like taming's files they hold more than the autoencoder: `loss.*` entries and, for a
    Net2NetTransformer, the `first_stage_model.` prefix and a transformer tensor, all of
    which loading drops.
    """
    import torch

    if target not in TARGETS:
        raise ValueError(f"target {shown(target)} is not one of {', '.join(TARGETS)}")
    if (target == TARGET_GUMBEL) != model.is_gumbel:
        raise ValueError(f"a {'Gumbel' if model.is_gumbel else 'VQ'} model cannot be a {target}")
    first = first_stage_config(model)
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    loss = {
        "loss.logvar": torch.zeros(()),
        "loss.discriminator.main.0.weight": torch.ones(4, 3, 4, 4),
    }
    if target == TARGET_TRANSFORMER:
        state = {FIRST_STAGE_PREFIX + k: v for k, v in {**weights, **loss}.items()}
        state["transformer.tok_emb.weight"] = torch.zeros(model.n_codes, 8)
        config = {
            "model": {
                "base_learning_rate": 4.5e-06,
                "target": TARGET_TRANSFORMER,
                "params": {
                    "transformer_config": {
                        "target": "taming.modules.transformer.mingpt.GPT",
                        "params": {
                            "vocab_size": model.n_codes,
                            "block_size": 256,
                            "n_layer": 1,
                            "n_head": 1,
                            "n_embd": 8,
                        },
                    },
                    "first_stage_config": first,
                    "cond_stage_config": "__is_unconditional__",
                },
            }
        }
    else:
        state = {**weights, **loss}
        config = {"model": {"base_learning_rate": 4.5e-06, **first}}
    atomic_torch_save({"state_dict": state, "epoch": 0, "global_step": 0}, Path(ckpt_path))
    atomic_write_text(Path(config_path), yaml.safe_dump(config, sort_keys=False))
