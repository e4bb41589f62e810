"""Which flow models there are, where RAFT's weights are cached, and the check that they can be
had: all without torch or torchvision (what `validate` runs).

`flow_model` is `dis` (OpenCV's Dense Inverse Search: no weights, so Video Source runs
offline), `raft_small` or `raft_large` (torchvision's RAFT; its weights are downloaded once into
models_cache_dir, or torch's hub cache, and checked against the hash in their file name).
"""

import os
from pathlib import Path

from ..errors import ModelUnavailable, PyttiError, shown, shown_path
from . import network

FLOW_MODELS = ("dis", "raft_small", "raft_large")
# torchvision's default weights of each RAFT (Raft_*_Weights.DEFAULT.url; a test compares)
RAFT_URLS = {
    "raft_small": "https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth",
    "raft_large": "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
}
RAFT_MAX_BYTES = 64 * 2**20  # raft_large is 21 MB, raft_small 4 MB
RAFT_DEADLINE_S = 600.0
ALTERNATIVE = "use flow_model: dis (classical optical flow: no weights, runs offline)"


class FlowModelError(PyttiError):
    """A flow model cannot be had."""


class FlowModelUnavailable(FlowModelError, ModelUnavailable):
    """RAFT's weights are not downloaded and cannot be downloaded now."""


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() (unless set_dir was called), without importing torch:
    $TORCH_HOME/hub, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch, that to ~/.cache."""
    cache_home = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.getenv("TORCH_HOME", os.path.join(cache_home, "torch"))).expanduser() / "hub"


def weights_folder(cache_dir: str | None) -> Path:
    """Where RAFT weights are downloaded: models_cache_dir/torchvision, or torch's hub cache."""
    if cache_dir:
        return Path(cache_dir).expanduser() / "torchvision"
    return torch_hub_dir() / "checkpoints"


def raft_weights_path(name: str, cache_dir: str | None) -> Path:
    """The file a RAFT variant's weights are (or will be) stored in."""
    return weights_folder(cache_dir) / os.path.basename(RAFT_URLS[name])


def raft_hash_prefix(name: str) -> str:
    """The sha256 prefix torchvision puts in a RAFT weights file's name ('...-01064c6d.pth')."""
    return os.path.basename(RAFT_URLS[name]).rsplit("-", 1)[1].removesuffix(".pth")


def check_flow_model(name: str, cache_dir: str | None = None) -> None:
    """Prove a flow model can be loaded without loading it; raises FlowModelError."""
    if name == "dis":
        return
    path = raft_weights_path(name, cache_dir)
    if path.is_file():
        return
    url = RAFT_URLS[name]
    if network.surely_offline_url(url):
        host = url.split("/")[2]
        raise FlowModelUnavailable(
            f"flow_model {shown(name)}: its weights are not downloaded yet ({shown_path(path, 160)}) and {host} "
            f"cannot be reached (no network?); {ALTERNATIVE}, or put the weights file there"
        )
