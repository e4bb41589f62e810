"""torch checkpoints read without running the code they name: torch.load(weights_only=True),
with an inert stand-in for each class a Lightning checkpoint names besides its tensors."""

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

MAX_STUBBED_GLOBALS = 64


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


class NeedsFullUnpickle(Exception):
    """The checkpoint holds objects the stand-in cannot replace."""


def load_weights_only(path: Path) -> Any:
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
                raise NeedsFullUnpickle(str(e).splitlines()[0]) from e
            stubbed.append(match[1])
    raise NeedsFullUnpickle(f"it names over {MAX_STUBBED_GLOBALS} classes besides tensors")
