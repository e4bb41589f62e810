"""Optical flow between video frames, once per frame: OpenCV's DIS or torchvision's RAFT.

A flow_model setting is checked by flow_weights (without torch); here it is loaded, RAFT's
weights through torch's hub (downloaded once, checked against the hash in their file name).
DIS is classical, on the CPU, with no weights. A flow maps every pixel of the first image to
where it is in the second: flow[:, :, y, x] = (dx, dy) in pixels.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PyttiError, shown
from .flow_weights import (
    ALTERNATIVE,
    FLOW_MODELS,
    RAFT_URLS,
    FlowModelError,
    check_flow_model,
    weights_folder,
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

    folder = weights_folder(cache_dir)
    try:
        state = torch.hub.load_state_dict_from_url(
            RAFT_URLS[name],
            model_dir=str(folder),
            progress=False,
            check_hash=True,
            weights_only=True,
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
