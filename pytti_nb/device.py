"""Which torch device a run uses."""

import torch


def pick_device(name: str) -> torch.device:
    """The torch device for a 'device' setting: auto prefers CUDA, then MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    return torch.device(name)
