"""PyTTI's 3D flow loss (TargetFlowLoss) estimated from a pixel MSE, once per frame
(flow_stabilization_3d: pytti).

PyTTI (pytti-core b5070aa, LossAug/OpticalFlowLossClass.py 156-159 and 178-199) ran its flow
model at every step on the frame before the move and the image, and compared that flow F with
the camera's C:  L_pytti = mean_{c,p} (F - C)^2 / mean_p |C|^2 = mean_p |d|^2 / (2 m),
d = F - C the flow error, m = mean_p |C|^2 (m, one frame's constant, carries no gradient).

Ours compares the image I with the moved previous frame W (the camera's target) by a pixel MSE
L_pixel = mean_{k,p} (I - W)^2. To first order in d, I(p) = W(p - d(p)), so
I - W = -grad(W) . d, and for a flow error uncorrelated with the picture's gradients and
isotropic (or a picture whose gradients are),
    L_pixel = mean_p |d|^2 * G / 2,   G = mean_{k,p} |grad W_k|^2
(the picture's gradient energy per channel, in output pixels). Hence
    L_pytti = L_pixel / (G * m),
the same loss, weight and stop, with no flow model in the step. Where a mask weighs the pixel
MSE (the flow's reliability, a user mask M), G is weighed alike and the mean of M^2 restores
PyTTI's masked mean of |d|^2 (a user mask masked its flow MSE): the factor is
mean(M^2) / (G_mask * m).

Running the flow model every step instead (what PyTTI did) costs a flow model's forward and
backward per step: with RAFT Large on the benchmark's 2-core CPU about 1.3 s forward at 512^2,
where the whole step is 2.9 s; DIS, the offline model, has no gradient at all.
"""

import torch.nn.functional as F
from torch import Tensor

# PyTTI divided by m unbounded: NaN when the camera stands still (lock_camera removes a uniform
# pan), and below a flow model's own error (about half a pixel) it measured that noise.
MIN_FLOW_SQUARE = 0.25  # px^2: a mean camera flow of half a pixel
# A flat picture shows no motion (G = 0, and PyTTI's flow there is the model's guess):
MIN_GRADIENT_ENERGY = 1e-4  # an RMS slope of 0.01 per pixel, 2.5 levels of 255


def gradient_energy(image: Tensor, mask: Tensor | None = None) -> Tensor:
    """mean over channels and pixels of mask^2 * |grad image|^2 (central differences, edges
    replicated), in image units per output pixel squared."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    dx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    dy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    energy = dx.square() + dy.square()
    return (energy if mask is None else energy * mask.square()).mean()


def flow_square(camera_flow: Tensor) -> Tensor:
    """PyTTI's mag: the camera flow's [2,h,w] mean squared length, in output pixels^2."""
    return camera_flow.square().sum(0).mean()


def target_flow_scale(
    reference: Tensor, reliable: Tensor, camera_flow: Tensor, mask: Tensor | None = None
) -> Tensor:
    """The factor turning the masked pixel MSE toward `reference` into PyTTI's TargetFlowLoss:
    mean(mask^2) / (G * m) (module docstring), a 0-d tensor computed once per frame (no sync).

    reference [1,3,H,W] the moved previous frame, reliable [1,1,H,W] where the frames' flow
    agrees with the camera's, camera_flow [2,h,w] in output pixels, mask the weight's own.
    """
    weight = reliable if mask is None else reliable * mask
    energy = gradient_energy(reference, weight).clamp_min(MIN_GRADIENT_ENERGY)
    share = 1.0 if mask is None else mask.square().mean()
    return share / (energy * flow_square(camera_flow).clamp_min(MIN_FLOW_SQUARE))
