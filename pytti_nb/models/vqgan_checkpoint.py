"""taming checkpoints: their archives bounded before torch reads them, their weights read
safely and loaded strictly into the autoencoder.

A checkpoint is checked before torch reads it (check_checkpoint_archive): the sizes its zip
archive declares, against a bound derived from its config's parameter count (a zip bomb is
refused from its table of contents); torch then reads no record past its declared size.
Checkpoints are read with torch.load(weights_only=True) (safe_load); only the autoencoder's
weights are kept (autoencoder_state), keyed as vqgan_net.VQGAN's.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import clipped, reason, shown, shown_path
from .download import file_sha256
from .safe_load import NeedsFullUnpickle, load_weights_only
from .vqgan_sources import MAX_CHECKPOINT_BYTES, VQGANError

if TYPE_CHECKING:
    from .vqgan_net import VQGAN

FIRST_STAGE_PREFIX = "first_stage_model."
AUTOENCODER_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.")
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
NAMES_SHOWN = 5  # keys named in a mismatch error, before "and N more"


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


def read_checkpoint(path: Path, *, pinned_sha256: str | None = None) -> dict:
    """The state dict of a taming checkpoint file (Lightning's {'state_dict': ...} or bare)."""
    import torch

    try:
        try:
            loaded = load_weights_only(path)
        except NeedsFullUnpickle as e:
            # a full unpickle can run code the file names: allowed only for a file whose
            # sha256 is the one pinned for a named model (never for local or trusted-on-
            # first-use files, whose content nobody vouched for)
            if pinned_sha256 is None or file_sha256(path) != pinned_sha256.lower():
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
