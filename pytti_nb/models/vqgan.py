"""VQGAN models for the image model: named downloads or local taming checkpoints, no taming
install. Checked before anything is built, at validation as at loading; then built and loaded.

What a vqgan_model setting names is vqgan_sources'; a taming config's checks are
vqgan_config's; a checkpoint's bounds and safe reading are vqgan_checkpoint's. A named model is
downloaded through the shared bounded downloader (download.py): its config and checkpoint are
validated before they are kept, and none of the models has a published sha256 (see
VQGAN_MODELS), so the checkpoint's is recorded on first download and checked on every load.

Nothing heavy is imported at module level: check_vqgan_model runs at validation time, before
torch is loaded.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import shown, shown_path
from . import download, network
from .vqgan_checkpoint import check_checkpoint_archive, load_weights, read_checkpoint
from .vqgan_config import MAX_CONFIG_BYTES, VQGANShape, check_config, read_config
from .vqgan_sources import (
    ALTERNATIVE,
    BASE_DEADLINE_S,
    Source,
    VQGANError,
    VQGANInfo,
    VQGANUnavailable,
    resolve,
)

if TYPE_CHECKING:
    from .vqgan_net import VQGAN


def check_vqgan_model(spec: str, cache_dir: str | os.PathLike | None = None) -> None:
    """Prove a vqgan_model spec can be loaded, without loading it; raises VQGANError.

    An unknown name (with a did-you-mean), a local path missing its checkpoint or config, a
    config with a bad value or too many parameters (check_config), a checkpoint declaring more
    than its config warrants (check_checkpoint_archive), or a named model not yet downloaded
    whose host is unreachable are errors.
    """
    source = resolve(spec, cache_dir)
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


def vqgan_factor(spec: str, cache_dir: str | os.PathLike | None = None) -> int:
    """The downsampling factor f of a vqgan_model (image sides are multiples of it), read from
    the registry or the local config without loading weights; raises VQGANError."""
    source = resolve(spec, cache_dir)
    if source.info is not None:
        return source.info.factor
    return check_config(read_config(source.config)).factor


def load_vqgan_model(spec: str, *, device, cache_dir: str | os.PathLike | None = None) -> VQGAN:
    """The frozen VQGAN a vqgan_model spec names, on device (downloading it if needed)."""
    source = resolve(spec, cache_dir)
    if source.info is not None:
        _ensure_downloaded(source.info, source.config, source.checkpoint)
    shape = _checked_source(spec, source)
    _checked_archive(spec, source, shape)  # before torch reads a byte of it
    model = _build(shape, source.name)
    pinned = source.info.sha256 if source.info is not None else None
    state = read_checkpoint(source.checkpoint, pinned_sha256=pinned)
    load_weights(model, state, where=f"VQGAN checkpoint {source.checkpoint}")
    del state  # the checkpoint's other tensors (optimiser state, transformer) go now
    return model.eval().requires_grad_(False).to(device)


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


# ------------------------------------------------------------------------------------ checking


def _config_named(spec: str, source: Source) -> str:
    """' (CONFIG)' naming the config a message is about, unless the spec is that file: a local
    config is named by its file name (it sits beside the spec's checkpoint or in its folder)."""
    if source.info is not None:
        return f" ({shown_path(source.config, 100)})"
    if source.config == Path(spec.strip()).expanduser():
        return ""
    return f" ({shown(source.config.name)})"


def _checked_source(spec: str, source: Source) -> VQGANShape:
    """The shape of a source's config, checked; its errors name the spec and the config."""
    try:
        return check_config(read_config(source.config))
    except VQGANError as e:
        raise VQGANError(
            f"vqgan_model {shown(spec.strip())}{_config_named(spec, source)}: {e}"
        ) from None


def _checked_archive(spec: str, source: Source, shape: VQGANShape) -> None:
    """check_checkpoint_archive of a source's checkpoint; its errors name the spec."""
    try:
        check_checkpoint_archive(source.checkpoint, shape.parameters)
    except VQGANError as e:
        raise VQGANError(f"vqgan_model {shown(spec.strip())}: {e}") from None


def _require_online(info: VQGANInfo, url: str, dest: Path) -> None:
    """Raise VQGANError at once when a file must be downloaded and its host is unreachable."""
    if network.surely_offline_url(url):
        host = urllib.parse.urlsplit(url).hostname
        raise VQGANUnavailable(
            f"vqgan_model {info.name!r} is not downloaded yet ({shown_path(dest, 160)}) and {host} cannot be "
            f"reached (no network?); download {url} to {shown_path(dest, 160)} by hand, "
            + ALTERNATIVE
        )


# ---------------------------------------------------------------------------------- downloading


def _ensure_downloaded(info: VQGANInfo, config: Path, checkpoint: Path) -> None:
    """Download a named model's config and checkpoint unless cached and intact."""
    if not config.is_file():
        _require_online(info, info.config_url, config)
        bounds = dict(max_bytes=MAX_CONFIG_BYTES, deadline_s=BASE_DEADLINE_S, sha256=None)
        _download(info, info.config_url, config, validate=_validate_config, **bounds)
    if checkpoint.is_file() and download.intact(checkpoint, info.sha256):
        return
    _require_online(info, info.checkpoint_url, checkpoint)
    bounds = dict(max_bytes=info.max_bytes, deadline_s=info.deadline_s, sha256=info.sha256)
    url = info.checkpoint_url
    sha256 = _download(info, url, checkpoint, validate=_validate_checkpoint, **bounds)
    if info.sha256 is None:
        download.record_sha256(checkpoint, sha256)  # trust on first use


def _download(info: VQGANInfo, url: str, dest: Path, **bounds) -> str:
    """download.download; raises VQGANError saying what to do when it fails."""
    try:
        return download.download(url, dest, **bounds)
    except download.DownloadRefused as e:  # too big, or not a config/checkpoint
        raise VQGANError(
            f"vqgan_model {info.name!r}: download stopped: {e}; download it by hand to "
            f"{shown_path(dest, 160)}, " + ALTERNATIVE
        ) from None
    except download.DownloadFailed as e:
        raise VQGANUnavailable(
            f"vqgan_model {info.name!r}: downloading {url} failed twice ({e}); "
            f"check the network and try again, or download it by hand to {shown_path(dest, 160)}, "
            + ALTERNATIVE
        ) from None


def _validate_config(path: Path) -> None:
    """Refuse a downloaded file unless it is a taming config of a supported model."""
    try:
        check_config(read_config(path))
    except VQGANError as e:
        raise download.DownloadRefused(
            f"what was served is not a usable taming config ({e})"
        ) from None


def _validate_checkpoint(path: Path) -> None:
    """Refuse a downloaded file unless it starts as torch.save's files do."""
    with open(path, "rb") as f:
        head = f.read(4)
    # a zip archive (torch >= 1.6), or a pickle (the legacy format starts with its protocol)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        raise download.DownloadRefused(
            f"what was served is not a torch checkpoint (it starts {head!r})"
        )
