"""3D camera motion: place every pixel in space by the frame's depth, move the camera, reproject.

Camera frame: x right, y down, z forward; units are output pixels, f the focal length
(H/2) / tan(fov/2). PyTTI's motion, expressed in this frame, moves every point to
R (P + t) with t = (translate_x, -translate_y, -translate_z_3d) and R the rotate_3d
quaternion [w, x, y, z] turned into PyTTI's (z backward) frame. The new screen position
minus the old is the forward flow; lock_camera subtracts its mean, as PyTTI does.

Two cameras (the `camera` setting) place a pixel at screen offset (x, y) with depth z:
- pinhole (native): the point z * (x / f, y / f, 1) that the pixel sees, so a plane moves by
  its exact homography and a move of t pixels shifts a point at depth z by f * t / z.
- pytti: PyTTI's point (x, y, z), the screen offset not unprojected (Transforms.py 165-181),
  whose screen position before the move is f * (x, y) / z. Sideways moves agree with the
  pinhole, pans to first order (both shift by f * angle); translate_z_3d and roll move a
  pixel f / z times as far (f / z is 0.15 at 512 px, FOV 60 and a depth of 3000 px).
Depth is the same in both (models/depth.py): metres, or a relative model's depth read as 1 m
(nearest) to 10 m (farthest), mapped from PyTTI's 0.001-10 m onto [near_plane, far_plane].

The warp needs the inverse map, the previous-frame position of every new pixel. PyTTI took the
forward flow at the new position as if it were the backward one (a bug: the flow it reports is
not the warp it applies); both cameras solve q = p + F(p) for p by fixed-point iteration
(p <- q - F(p)), which converges for the small motions of one frame. The two differ by the
flow's square, so the pytti camera keeps PyTTI's motion rate to first order.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from .motion import focal_length, unit_quaternion
from .warp import identity_grid

INVERSE_ITERATIONS = 8
MIN_DEPTH = 1e-3  # points that the move puts behind the camera are held just in front of it
_FLIP_Z = (1.0, 1.0, -1.0)  # between OpenGL's z-backward frame and ours


def rotation_matrix(quaternion) -> Tensor:
    """The 3x3 rotation of a quaternion [w, x, y, z] (normalised) in our z-forward frame; a
    zero quaternion, which validation refuses, is no rotation."""
    w, x, y, z = unit_quaternion(quaternion) or (1.0, 0.0, 0.0, 0.0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    opengl = torch.tensor(rows, dtype=torch.float64)
    flip = torch.diag(torch.tensor(_FLIP_Z, dtype=torch.float64))
    return (flip @ opengl @ flip).float()


def pixel_centres(height: int, width: int, out_h: int, out_w: int, device) -> Tensor:
    """[2,h,w] screen offsets from the centre, in output pixels, of an h x w grid's pixels."""
    ys = (torch.arange(height, device=device) + 0.5) * (out_h / height) - out_h / 2
    xs = (torch.arange(width, device=device) + 0.5) * (out_w / width) - out_w / 2
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x, grid_y))


def forward_flow(
    depth: Tensor, motion: dict, fov: float, out_size, lock_camera: bool, camera: str = "pinhole"
) -> Tensor:
    """Screen motion [2,h,w] in output pixels of every pixel of the grid `depth` [1,1,h,w].

    `depth` is in output pixels, sampled at the centres of an h x w grid over the output
    image of `out_size` (width, height); `camera` is pinhole or pytti (see the module).
    """
    out_w, out_h = out_size
    height, width = depth.shape[-2:]
    f = focal_length(out_h, fov)
    xy = pixel_centres(height, width, out_h, out_w, depth.device)
    z = depth[0, 0].float()
    if camera == "pytti":  # PyTTI's point is the screen offset itself, at depth z
        points, before = torch.stack((xy[0], xy[1], z)), f * xy / z
    else:
        points, before = torch.stack((xy[0] * z / f, xy[1] * z / f, z)), xy
    t = torch.tensor(
        [motion["translate_x"], -motion["translate_y"], -motion["translate_z_3d"]],
        device=depth.device,
    )
    r = rotation_matrix(motion["rotate_3d"]).to(depth.device)
    moved = torch.einsum("ij,jhw->ihw", r, points + t[:, None, None])
    z_new = moved[2].clamp_min(MIN_DEPTH)
    flow = f * moved[:2] / z_new - before
    if lock_camera:
        flow = flow - flow.mean(dim=(1, 2), keepdim=True)
    return flow


def displacement(flow: Tensor, out_size) -> Tensor:
    """The warp's displacement [1,h,w,2] (normalised) that inverts a forward flow [2,h,w]."""
    out_w, out_h = out_size
    height, width = flow.shape[-2:]
    scale = flow.new_tensor([2 / out_w, 2 / out_h]).view(2, 1, 1)
    flow_n = (flow * scale)[None]  # [1,2,h,w] in normalised units
    q = identity_grid(height, width, flow.device)  # new-frame positions
    p = q - flow_n.permute(0, 2, 3, 1)  # PyTTI's one-step estimate
    for _ in range(INVERSE_ITERATIONS):
        at_p = F.grid_sample(flow_n, p, mode="bilinear", padding_mode="border", align_corners=False)
        p = q - at_p.permute(0, 2, 3, 1)
    return p - q


def depth_range(depth: Tensor) -> dict:
    """PyTTI's r, R and mu of a depth map in pixels: nearest, farthest, mean of mean and median."""
    flat = depth.flatten().float().sort().values
    n = flat.numel()
    median = (flat[(n - 1) // 2] + flat[n // 2]) / 2  # numpy's: both middle values, averaged
    stats = torch.stack((flat[0], flat[-1], (flat.mean() + median) / 2))
    r, big_r, mu = stats.tolist()  # one GPU sync, once per frame
    return {"r": r, "R": big_r, "mu": mu}
