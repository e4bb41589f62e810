"""Exact-resume checkpoints: one atomically replaced `checkpoint.pt` per run folder.

The state is restricted to tensors, dicts, lists, tuples, str, int, float, bool and None so it
loads with `torch.load(weights_only=True)`, which cannot run code hidden in a tampered file.
A resumable state holds e.g. settings (plain dict), seed, scene/frame/step indices, RNG states
(`torch.Generator.get_state()`, a uint8 tensor), optimiser and image-model state_dicts, versions,
and the run id of its run folder's record (run.py resumes a checkpoint only in its own folder).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch

from pytti_nb.errors import OutputError, reason, shown, shown_path
from pytti_nb.io.atomic import atomic_torch_save
from pytti_nb.io.run_folder import CHECKPOINT_NAME, write_error

__all__ = ["CHECKPOINT_NAME", "has_checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT_KEY = "pytti_nb_checkpoint"  # marks our files and versions their layout
FORMAT = 1
# Exact types: subclasses such as numpy.float64 or torch's TorchVersion (a str) pickle as their
# own class, which weights_only loading refuses. Tensor subclasses like Parameter are allowed.
SAFE_LEAVES = (str, int, float, bool, type(None), torch.dtype, torch.device)
SAFE_DICTS = (dict, OrderedDict)
SAFE_SEQUENCES = (list, tuple)


def unsafe_part(value: object, where: str = "state") -> str | None:
    """Describe the first value that weights_only loading would reject, or None if all are safe."""
    if isinstance(value, torch.Tensor):
        return None
    if type(value) in SAFE_DICTS:
        for key, item in value.items():
            if type(key) not in (str, int):
                return f"{where} key {shown(key)} ({type(key).__name__})"
            found = unsafe_part(item, f"{where}[{shown(key)}]")
            if found:
                return found
        return None
    if type(value) in SAFE_SEQUENCES:
        found = (unsafe_part(item, f"{where}[{i}]") for i, item in enumerate(value))
        return next((f for f in found if f), None)
    return None if type(value) in SAFE_LEAVES else f"{where} ({type(value).__name__})"


def checkpoint_path(run_dir: Path) -> Path:
    """Where the checkpoint of `run_dir` lives."""
    return Path(run_dir) / CHECKPOINT_NAME


def has_checkpoint(run_dir: Path) -> bool:
    """True if `run_dir` holds a checkpoint file."""
    return checkpoint_path(run_dir).is_file()


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Atomically write `state` to `run_dir/checkpoint.pt`, replacing any older one."""
    bad = unsafe_part(state) if type(state) in SAFE_DICTS else f"state ({type(state).__name__})"
    if bad:
        # A programming error, caught at save time so it cannot surface later as an unloadable file.
        raise TypeError(
            "checkpoint state may hold only tensors, dicts, lists, tuples, str, int, float, bool, "
            f"None, dtypes and devices (so it loads with weights_only=True); {bad} is not one"
        )
    path = checkpoint_path(run_dir)
    try:
        # A GPU tensor in `state` makes this a sync point; keep checkpoints periodic, not per step.
        atomic_torch_save({FORMAT_KEY: FORMAT, "state": state}, path)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise write_error("checkpoint", path, e) from e
    return path


def load_checkpoint(run_dir: Path, *, map_location: str | torch.device = "cpu") -> dict:
    """Load the state saved by save_checkpoint (tensors mapped to `map_location`)."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        raise OutputError(
            f"no checkpoint in {shown_path(run_dir)}: it is not a pytti_nb run folder, or "
            "its run saved nothing yet (was it started with save_every > 0?)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as e:
        raise OutputError(f"cannot read checkpoint {shown_path(path)}: {reason(e)}") from e
    except Exception as e:  # garbage bytes make the unpickler raise almost any type (KeyError...)
        # First sentence only: torch's own advice (weights_only=False) is unsafe for users.
        first = str(e).split(". ")[0].splitlines()[0][:160] if str(e) else "no details"
        raise OutputError(
            f"checkpoint {shown_path(path)} is corrupt or not a pytti_nb checkpoint "
            f"({type(e).__name__}: {first}); delete it to start afresh"
        ) from e
    marker = payload.get(FORMAT_KEY) if isinstance(payload, dict) else None
    if isinstance(marker, int) and marker > FORMAT:
        raise OutputError(
            f"checkpoint {shown_path(path)} has format {marker}, newer than this pytti_nb reads "
            f"({FORMAT}); "
            "upgrade pytti_nb to resume it"
        )
    if marker != FORMAT or not isinstance(payload.get("state"), dict):
        raise OutputError(
            f"checkpoint {shown_path(path)} is not a pytti_nb checkpoint (no {FORMAT_KEY!r})"
        )
    return payload["state"]
