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

Configs are taming's YAML files (read with yaml.safe_load), whose `model.target` is
taming.models.vqgan.VQModel, taming.models.vqgan.GumbelVQ or
taming.models.cond_transformer.Net2NetTransformer (its `first_stage_config` is the autoencoder,
whose checkpoint keys start with `first_stage_model.`). Only the autoencoder's weights are
loaded (vqgan_net.VQGAN); the loss, the transformer and the conditioning model are dropped.

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

from ..atomic import atomic_path, atomic_torch_save, atomic_write_text
from ..errors import PyttiError, shown, shown_path
from . import network

if TYPE_CHECKING:
    from .vqgan_net import VQGAN

TARGET_VQ = "taming.models.vqgan.VQModel"
TARGET_GUMBEL = "taming.models.vqgan.GumbelVQ"
TARGET_TRANSFORMER = "taming.models.cond_transformer.Net2NetTransformer"
TARGETS = (TARGET_VQ, TARGET_GUMBEL, TARGET_TRANSFORMER)
FIRST_STAGE_PREFIX = "first_stage_model."
AUTOENCODER_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.")
DDCONFIG_KEYS = (
    "ch",
    "out_ch",
    "ch_mult",
    "num_res_blocks",
    "attn_resolutions",
    "in_channels",
    "resolution",
    "z_channels",
)

READ_TIMEOUT_S = 30.0  # one socket read (and the connection) may stall this long
MIN_RATE = 500_000  # bytes/s: the overall deadline allows the expected size at this rate...
BASE_DEADLINE_S = 120.0  # ...plus this
SIZE_SLACK = 1.5  # a download over this many times the expected size is stopped
MAX_CHECKPOINT_BYTES = 16 * 2**30  # and any checkpoint over this
MAX_CONFIG_BYTES = 2**20
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

    An unknown name (with a did-you-mean), a local path missing its checkpoint or config, or
    a named model not yet downloaded whose host is unreachable are errors.
    """
    source = _resolve(spec, cache_dir)
    if source.config.is_file():  # a local config, or a named model's downloaded one
        try:
            _check_first_stage(_first_stage(_read_config(source.config))[2])
        except VQGANError as e:
            raise VQGANError(
                f"vqgan_model {shown(spec.strip())}{_config_named(spec, source)}: {e}"
            ) from None
    if source.info is None:
        return
    for url, path in (
        (source.info.config_url, source.config),
        (source.info.checkpoint_url, source.checkpoint),
    ):
        if not path.is_file():
            _require_online(source.info, url, path)


# ---------------------------------------------------------------------------------- downloading


def vqgan_factor(spec: str, cache_dir: str | os.PathLike | None = None) -> int:
    """The downsampling factor f of a vqgan_model (image sides are multiples of it), read from
    the registry or the local config without loading weights; raises VQGANError."""
    source = _resolve(spec, cache_dir)
    if source.info is not None:
        return source.info.factor
    ddconfig = _check_first_stage(_first_stage(_read_config(source.config))[2])[0]
    return 2 ** (len(ddconfig["ch_mult"]) - 1)


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
        _first_stage(_read_config(path))
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


def _read_config(path: Path) -> dict:
    """A taming YAML config, parsed safely."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise VQGANError(f"VQGAN config {shown_path(path, 160)} cannot be read: {e}") from e
    if not isinstance(config, dict):
        raise VQGANError(
            f"VQGAN config {shown_path(path, 160)} is not a taming config (a mapping with 'model')"
        )
    return config


def _first_stage(config: dict) -> tuple[str, str, dict]:
    """(the config's target, the autoencoder's target, the autoencoder's params)."""
    model = config.get("model", config)
    if not isinstance(model, dict):
        raise VQGANError("the VQGAN config has no 'model' section")
    target = model.get("target")
    params = model.get("params") or {}
    if target == TARGET_TRANSFORMER:
        first = params.get("first_stage_config")
        if not isinstance(first, dict) or first.get("target") not in (TARGET_VQ, TARGET_GUMBEL):
            found = first.get("target") if isinstance(first, dict) else first
            raise VQGANError(
                f"the VQGAN config's {TARGET_TRANSFORMER} has first_stage_config target "
                f"{shown(found)}; expected {TARGET_VQ} or {TARGET_GUMBEL}"
            )
        return target, first["target"], first.get("params") or {}
    if target in (TARGET_VQ, TARGET_GUMBEL):
        return target, target, params
    raise VQGANError(
        f"the VQGAN config's model target {shown(target)} is not supported; "
        f"supported: {', '.join(TARGETS)}"
    )


def _check_first_stage(params: dict) -> tuple[dict, int, int]:
    """(ddconfig, n_embed, embed_dim) of an autoencoder's params, checked."""
    ddconfig = params.get("ddconfig")
    if not isinstance(ddconfig, dict):
        raise VQGANError("the VQGAN config has no ddconfig")
    missing = [k for k in DDCONFIG_KEYS if k not in ddconfig]
    missing += [k for k in ("n_embed", "embed_dim") if k not in params]
    if missing:
        raise VQGANError(f"the VQGAN config lacks {', '.join(missing)}")
    problems = []
    if ddconfig.get("double_z", True):
        problems.append("double_z must be false (true is a KL autoencoder, not a VQGAN)")
    if (ddconfig["in_channels"], ddconfig["out_ch"]) != (3, 3):
        problems.append("in_channels and out_ch must be 3 (an RGB autoencoder)")
    if not ddconfig["ch_mult"] or ddconfig["ch"] % 32:
        problems.append("ch must be a multiple of 32 (GroupNorm's 32 groups) and ch_mult non-empty")
    if params.get("remap") is not None:
        problems.append("remapped codebooks (remap) are not supported")
    if problems:
        raise VQGANError("unsupported VQGAN config: " + "; ".join(problems))
    ddconfig = {k: list(v) if isinstance(v, tuple) else v for k, v in ddconfig.items()}
    return ddconfig, int(params["n_embed"]), int(params["embed_dim"])


def build_vqgan(config: dict, *, name: str = "vqgan") -> VQGAN:
    """A VQGAN with random weights, shaped by a parsed taming config (the whole file's dict)."""
    _, first_target, params = _first_stage(config)
    ddconfig, n_embed, embed_dim = _check_first_stage(params)
    gumbel = first_target == TARGET_GUMBEL
    if gumbel and embed_dim != ddconfig["z_channels"]:
        # taming's GumbelQuantize projects quant_conv's embed_dim channels with a conv built
        # for z_channels inputs: such a model cannot run in taming either
        raise VQGANError("a GumbelVQ config needs embed_dim equal to z_channels")
    from .vqgan_net import VQGAN

    return VQGAN(ddconfig=ddconfig, n_embed=n_embed, embed_dim=embed_dim, gumbel=gumbel, name=name)


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
    config = _read_config(source.config)
    try:
        model = build_vqgan(config, name=source.name)
    except VQGANError as e:
        raise VQGANError(
            f"vqgan_model {shown(source.name)} ({shown_path(source.config, 100)}): {e}"
        ) from None
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
