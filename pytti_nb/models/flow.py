"""Optical flow between video frames, once per frame: OpenCV's DIS or torchvision's RAFT.

A flow_model setting is checked by flow_weights (without torch); here it is loaded, RAFT's
weights through the shared bounded downloader (once, checked against the hash in their file
name, as torch's hub checks them).
DIS is classical, on the CPU, with no weights. A flow maps every pixel of the first image to
where it is in the second: flow[:, :, y, x] = (dx, dy) in pixels.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PyttiError, shown
from . import download
from .flow_weights import (
    ALTERNATIVE,
    FLOW_MODELS,
    RAFT_DEADLINE_S,
    RAFT_MAX_BYTES,
    RAFT_URLS,
    FlowModelError,
    FlowModelUnavailable,
    check_flow_model,
    raft_hash_prefix,
    raft_weights_path,
)

RAFT_ITERATIONS = 12  # PyTTI ran GMA, RAFT's successor, for 12 iterations
RAFT_MIN_SIDE = 128


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

    try:
        path = raft_weights(name, cache_dir)
        state = torch.load(path, map_location="cpu", weights_only=True)
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


def raft_weights(name: str, cache_dir: str | None) -> Path:
    """The path of a RAFT variant's weights, downloaded first when missing (bounded in size and
    time, kept only when their sha256 starts with the hash in their file name)."""
    path = raft_weights_path(name, cache_dir)
    if path.is_file():  # as torch's hub: a file in the cache is taken as it is
        return path
    prefix = raft_hash_prefix(name)

    def validate(tmp: Path) -> None:
        actual = download.file_sha256(tmp)
        if not actual.startswith(prefix):
            raise download.DownloadRefused(
                f"{RAFT_URLS[name]} has sha256 {actual}, not the {prefix}... its name says"
            )

    try:
        download.download(
            RAFT_URLS[name], path, max_bytes=RAFT_MAX_BYTES, deadline_s=RAFT_DEADLINE_S,
            validate=validate,
        )  # fmt: skip
    except download.DownloadRefused as e:
        raise FlowModelError(f"flow_model {shown(name)}: {e}; {ALTERNATIVE}") from e
    except download.DownloadFailed as e:
        raise FlowModelUnavailable(f"flow_model {shown(name)}: {e}; {ALTERNATIVE}") from e
    return path
