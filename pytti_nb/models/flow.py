"""Optical flow between video frames, once per frame: OpenCV's DIS or torchvision's RAFT.

`flow_model` is `dis` (OpenCV's Dense Inverse Search: classical, on the CPU, no weights, so
Video Source runs offline), `raft_small` or `raft_large` (torchvision's RAFT; its weights are
downloaded once into models_cache_dir, or torch's hub cache, and checked against the hash in
their file name). A flow maps every pixel of the first image to where it is in the second:
flow[:, :, y, x] = (dx, dy) in pixels.
"""

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PyttiError, shown, shown_path
from . import network

FLOW_MODELS = ("dis", "raft_small", "raft_large")
RAFT_ITERATIONS = 12  # PyTTI ran GMA, RAFT's successor, for 12 iterations
RAFT_MIN_SIDE = 128
ALTERNATIVE = "use flow_model: dis (classical optical flow: no weights, runs offline)"


class FlowModelError(PyttiError):
    """A flow model cannot be had."""


def _raft_weights(name):
    """torchvision's default weights enum of a RAFT variant."""
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    return {"raft_small": Raft_Small_Weights, "raft_large": Raft_Large_Weights}[name].DEFAULT


def weights_folder(cache_dir: str | None) -> Path:
    """Where RAFT weights are downloaded: models_cache_dir/torchvision, or torch's hub cache."""
    if cache_dir:
        return Path(cache_dir).expanduser() / "torchvision"
    return Path(torch.hub.get_dir()) / "checkpoints"


def raft_weights_path(name: str, cache_dir: str | None) -> Path:
    """The file a RAFT variant's weights are (or will be) stored in."""
    return weights_folder(cache_dir) / os.path.basename(_raft_weights(name).url)


def check_flow_model(name: str, cache_dir: str | None = None) -> None:
    """Prove a flow model can be loaded without loading it; raises FlowModelError."""
    if name == "dis":
        return
    path = raft_weights_path(name, cache_dir)
    if path.is_file():
        return
    host = "download.pytorch.org"
    if network.surely_offline(host):
        raise FlowModelError(
            f"flow_model {shown(name)}: its weights are not downloaded yet ({shown_path(path, 160)}) and {host} "
            f"cannot be reached (no network?); {ALTERNATIVE}, or put the weights file there"
        )


class DisFlow:
    """OpenCV's DIS optical flow (medium preset) on grey images, on the CPU."""

    name = "dis"

    def __init__(self):
        import cv2

        self._cv2 = cv2

    @torch.no_grad()
    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        """Flow [1,2,H,W] in pixels from image a to image b (both [1,3,H,W] in [0,1])."""
        cv2 = self._cv2
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # fresh: stateless
        dis.setFinestScale(0)  # full resolution: the preset stops at half, blurring edges
        grey = [_grey_uint8(x) for x in (a, b)]
        flow = dis.calc(grey[0], grey[1], None)  # HxWx2 float32
        return torch.from_numpy(flow).permute(2, 0, 1)[None].to(a.device)


class RaftFlow:
    """torchvision's RAFT on the run's device."""

    def __init__(self, name, model, device):
        self.name = name
        self.model = model.eval().requires_grad_(False).to(device)

    @torch.no_grad()
    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        """Flow [1,2,H,W] in pixels from image a to image b (both [1,3,H,W] in [0,1])."""
        height, width = a.shape[-2:]
        # RAFT works on multiples of 8, and its correlation pyramid needs at least 128 pixels
        pad_h, pad_w = (max(RAFT_MIN_SIDE - side, -side % 8) for side in (height, width))
        a, b = (F.pad(x * 2 - 1, (0, pad_w, 0, pad_h), mode="replicate") for x in (a, b))
        flows = self.model(a.float(), b.float(), num_flow_updates=RAFT_ITERATIONS)
        return flows[-1][..., :height, :width]


def load_flow_model(name: str, *, device, cache_dir: str | None = None):
    """A flow estimator for a flow_model setting (downloading RAFT's weights if needed)."""
    if name not in FLOW_MODELS:
        raise FlowModelError(
            f"flow_model {shown(name)} is unknown; use one of {', '.join(FLOW_MODELS)}"
        )
    if name == "dis":
        return DisFlow()
    check_flow_model(name, cache_dir)
    from torchvision.models import optical_flow

    weights = _raft_weights(name)
    folder = weights_folder(cache_dir)
    try:
        state = torch.hub.load_state_dict_from_url(
            weights.url, model_dir=str(folder), progress=False, check_hash=True, weights_only=True
        )
        model = getattr(optical_flow, name)(weights=None)
        model.load_state_dict(state)
    except PyttiError:
        raise
    except Exception as e:  # download, hash and load errors of many types
        raise FlowModelError(
            f"flow_model {shown(name)} could not be loaded: {e}; {ALTERNATIVE}"
        ) from e
    return RaftFlow(name, model, device)


def _grey_uint8(image: Tensor) -> np.ndarray:
    """A [1,3,H,W] image in [0,1] as an HxW uint8 grey array (what DIS reads)."""
    weights = image.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = (image * weights).sum(1)[0].clamp(0, 1).mul(255).round()
    return grey.to(torch.uint8).cpu().numpy()
