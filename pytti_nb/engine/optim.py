"""Optimisers over an image model's named parameter groups, chosen by the `optimizer` setting.

Every optimiser here keeps only per-parameter tensors shaped like their parameter (plus step
counters), so a warp moves its state with the picture and a checkpoint restores it exactly.
"""

import inspect
from types import MappingProxyType

import torch

from ..config.schema import schema_by_name

# name -> (class, options beyond the learning rate). SGD's momentum is the usual 0.9; AdamW's
# decay is torch's default, pulling parameters gently toward zero.
OPTIMIZERS = MappingProxyType(
    {
        "Adam": (torch.optim.Adam, {}),
        "AdamW": (torch.optim.AdamW, {"weight_decay": 0.01}),
        "RAdam": (torch.optim.RAdam, {}),
        "NAdam": (torch.optim.NAdam, {}),
        "Adamax": (torch.optim.Adamax, {}),
        "SGD": (torch.optim.SGD, {"momentum": 0.9}),
    }
)
assert tuple(OPTIMIZERS) == schema_by_name()["optimizer"].choices, "schema and OPTIMIZERS differ"


def build_optimizer(name: str, image_model, lr: float) -> torch.optim.Optimizer:
    """A fresh optimiser `name` over the image model's parameter groups at base rate `lr`.

    On CUDA the optimisers that can keep their step counts on the device do (capturable), so
    the finite-step guard can undo a step there without waiting for the GPU.
    """
    cls, options = OPTIMIZERS[name]
    on_cuda = next(image_model.parameters()).is_cuda
    if on_cuda and "capturable" in inspect.signature(cls).parameters:
        options = {**options, "capturable": True}
    return cls(image_model.param_groups(lr), lr=lr, **options)


def set_learning_rate(optimizer: torch.optim.Optimizer, image_model, lr: float) -> None:
    """Move every group to the image model's rate for base rate `lr`, keeping the moments."""
    wanted = {group["name"]: group["lr"] for group in image_model.param_groups(lr)}
    for group in optimizer.param_groups:
        group["lr"] = wanted[group["name"]]
