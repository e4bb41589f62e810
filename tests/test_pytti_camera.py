"""The 3D cameras against a numpy copy of PyTTI's (pytti-core b5070aa, src/pytti/Transforms.py)
on synthetic depth maps: the pytti camera moves every pixel as PyTTI did, the pinhole as PyTTI
did sideways and D/f times faster forward and in roll; an imported PyTTI file gets PyTTI's."""

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pytti_nb.animation import three_d
from pytti_nb.animation.animator import CameraAnimator
from pytti_nb.animation.motion import focal_length
from pytti_nb.animation.warp import identity_grid
from pytti_nb.config.clock import StepContext
from pytti_nb.config.files import read_settings_file
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.models.depth import METRES, metres_to_pixels
from pytti_nb.models.depth_config import DEFAULT, METRIC_EXAMPLE
from pytti_nb.timing import no_timer

pytestmark = pytest.mark.numerics

FILES = Path(__file__).parent / "pytti_files"
NEAR, FAR, FOV = 1.0, 10000.0, 60.0  # PyTTI's defaults


# -- PyTTI's flow, in numpy ---------------------------------------------------------------------


def glm_perspective(fovy, aspect, near, far):
    """glm.perspective (right-handed, clip z in [-1, 1]: glm/ext/matrix_clip_space.inl)."""
    t = math.tan(fovy / 2)
    return np.array(
        [
            [1 / (aspect * t), 0, 0, 0],
            [0, 1 / t, 0, 0],
            [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
            [0, 0, -1, 0],
        ]
    )


def glm_mat4_cast(w, x, y, z):
    """glm.mat4_cast(glm.quat(w, x, y, z)) (glm/gtc/quaternion.inl), as a math matrix."""
    m = np.eye(4)
    m[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return m


def pytti_depth(metres, near, far, height):
    """zoom_3d's depth map, Transforms.py 234 and 248: metres onto [near, far] * 2/height."""
    px = 2 / height
    return np.interp(metres, (1e-3, 10), (near * px, far * px))


def pytti_depth_range(metres, near, far, height):
    """zoom_3d's r, R and mu, Transforms.py 249-256."""
    px = 2 / height
    depth_map = pytti_depth(metres, near, far, height)
    depth_median, depth_mean = np.median(depth_map.flatten()), np.mean(depth_map)
    return {
        "r": np.min(depth_map) / px,
        "R": np.max(depth_map) / px,
        "mu": (depth_mean + depth_median) / (2 * px),
    }


def pytti_flow(metres, motion, fov, near, far, width, height, stabilize):
    """PyTTI's flow in pixels [2,h,w] (zoom_3d's flow_out) for a depth map in metres:
    Transforms.py 234-248 (units), 315-320 (matrices), 165-203 (render_image_3d's offset; the
    tensordot of glm's column lists is a plain matrix product), 347 (pixels)."""
    px, alpha, f = 2 / height, math.radians(fov), width / height
    depth = pytti_depth(metres, near, far, height)
    p_matrix = glm_perspective(alpha, f, 0.1, 4)
    tx, ty, tz = motion["translate_x"], motion["translate_y"], motion["translate_z_3d"]
    t_matrix = np.eye(4)
    t_matrix[:3, 3] = (tx * px, -ty * px, tz * px)
    move = glm_mat4_cast(*motion["rotate_3d"]) @ t_matrix
    h, w = depth.shape
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-f, f, w), indexing="ij")
    view_pos = np.stack([x, y, -depth, np.ones_like(depth)])
    next_view_pos = np.einsum("ij,jhw->ihw", move, view_pos)
    clip_pos = np.einsum("ij,jhw->ihw", p_matrix, view_pos)
    clip_pos = clip_pos / clip_pos[3]
    next_clip_pos = np.einsum("ij,jhw->ihw", p_matrix, next_view_pos)
    next_clip_pos = next_clip_pos / next_clip_pos[3]
    offset = (next_clip_pos - clip_pos)[:2]
    if stabilize:
        offset = offset - offset.mean(axis=(1, 2), keepdims=True)
    return offset / 2 * np.array([width, height])[:, None, None]


# -- synthetic scenes and motions ----------------------------------------------------------------


def scene(kind, height, width):
    """A depth map in metres [h,w]: a plane, a plane tilted top (far) to bottom, or a sphere
    in front of a wall."""
    y, x = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    if kind == "plane":
        return np.full((height, width), 3.0)
    if kind == "tilted":
        return 4.5 - 1.25 * (y + 1)
    bulge = np.sqrt(np.clip(0.6**2 - x**2 - y**2, 0, None))
    return 4.0 - 2.5 * bulge


def quaternion(degrees, axis):
    """[w, x, y, z] of a turn about an axis."""
    half, norm = math.radians(degrees) / 2, math.sqrt(sum(a * a for a in axis))
    return (math.cos(half), *(math.sin(half) * a / norm for a in axis))


def motion(x=0.0, y=0.0, z=0.0, rotate=(1.0, 0.0, 0.0, 0.0)):
    return {"translate_x": x, "translate_y": y, "translate_z_3d": z, "rotate_3d": rotate}


def demo_motion(t):
    """PyTTI's assets/demo.yaml motion (tests/pytti_files/core_demo.yaml) at t seconds."""
    a = math.radians(1.5)
    return motion(
        x=-1700 * math.sin(a),
        z=(50 + 10 * t) * math.sin(t / 10 * math.pi) ** 2,
        rotate=(math.cos(a), 0.0, -math.sin(a) / math.sqrt(2), math.sin(a) / math.sqrt(2)),
    )


MOTIONS = {
    "forward": motion(z=60.0),
    "roll": motion(rotate=quaternion(3, (0, 0, 1))),
    "pan": motion(rotate=quaternion(2, (0, 1, 0))),
    "tilt": motion(rotate=quaternion(2, (1, 0, 0))),
    "sideways": motion(x=30.0, y=-20.0),
    "demo at t=5": demo_motion(5.0),
}
SCENES = ("plane", "tilted", "sphere")
HEIGHT, WIDTH = 96, 128  # not square, so the aspect is tested


def ours(metres, move, camera, lock=False, height=HEIGHT, width=WIDTH):
    """Our forward flow [2,h,w] in pixels for a depth map in metres."""
    depth = metres_to_pixels(torch.tensor(metres, dtype=torch.float32), NEAR, FAR)
    return three_d.forward_flow(depth[None, None], move, FOV, (width, height), lock, camera)


def assert_flows_close(a, b, width=WIDTH):
    """Pointwise agreement; PyTTI's pixel centres span the image edge to edge (align_corners),
    ours sit half a pixel in, so coordinates differ by up to 1/width of themselves."""
    b = torch.as_tensor(b, dtype=torch.float32)
    scale = b.norm(dim=0).max()
    assert (a - b).norm(dim=0).max() <= 2.5 / width * scale + 1e-4


@pytest.mark.parametrize("kind", SCENES)
@pytest.mark.parametrize("name", MOTIONS)
@pytest.mark.parametrize("lock", [False, True])
def test_the_pytti_camera_moves_every_pixel_as_pytti_did(kind, name, lock):
    metres = scene(kind, HEIGHT, WIDTH)
    expected = pytti_flow(metres, MOTIONS[name], FOV, NEAR, FAR, WIDTH, HEIGHT, lock)
    assert_flows_close(ours(metres, MOTIONS[name], "pytti", lock), expected)


@pytest.mark.parametrize("kind", SCENES)
@pytest.mark.parametrize("name", ["forward", "roll"])
def test_the_pinhole_zooms_and_rolls_d_over_f_times_as_fast_as_pytti(kind, name):
    metres = scene(kind, HEIGHT, WIDTH)
    depth = metres_to_pixels(torch.tensor(metres, dtype=torch.float32), NEAR, FAR)
    expected = pytti_flow(metres, MOTIONS[name], FOV, NEAR, FAR, WIDTH, HEIGHT, False)
    f = focal_length(HEIGHT, FOV)
    pinhole = ours(metres, MOTIONS[name], "pinhole")
    assert_flows_close(pinhole * f / depth, expected)


@pytest.mark.parametrize("kind", SCENES)
def test_the_pinhole_moves_sideways_as_pytti_did(kind):
    metres = scene(kind, HEIGHT, WIDTH)
    expected = pytti_flow(metres, MOTIONS["sideways"], FOV, NEAR, FAR, WIDTH, HEIGHT, False)
    assert_flows_close(ours(metres, MOTIONS["sideways"], "pinhole"), expected)


def test_the_pytti_camera_keeps_the_exact_inverse_warp():
    # PyTTI sampled the old frame at q - F(q); we solve q = p + F(p), which only differs by
    # the flow's square: the new pixel q shows what moved there
    metres = scene("sphere", HEIGHT, WIDTH)
    flow = ours(metres, MOTIONS["demo at t=5"], "pytti", lock=True)
    back = three_d.displacement(flow, (WIDTH, HEIGHT))  # p - q [1,h,w,2], normalised
    q = identity_grid(HEIGHT, WIDTH, "cpu")
    scale = torch.tensor([2 / WIDTH, 2 / HEIGHT]).view(1, 2, 1, 1)
    flow_at_p = torch.nn.functional.grid_sample(
        flow[None] * scale, q + back, mode="bilinear", padding_mode="border", align_corners=False
    )
    residual = (back + flow_at_p.permute(0, 2, 3, 1)) / scale.view(1, 1, 1, 2)  # p + F(p) - q
    inside = slice(4, -4)
    assert residual[0, inside, inside].norm(dim=-1).max() < 0.01  # pixels


@pytest.mark.parametrize("kind", SCENES)
def test_the_depth_range_is_pyttis_for_metric_depth(kind):
    metres = scene(kind, HEIGHT, WIDTH)
    depth = metres_to_pixels(torch.tensor(metres, dtype=torch.float32), NEAR, FAR)
    got, expected = three_d.depth_range(depth), pytti_depth_range(metres, NEAR, FAR, HEIGHT)
    for name in ("r", "R", "mu"):
        assert got[name] == pytest.approx(expected[name], rel=1e-5), name


def test_depth_outside_pyttis_metres_is_clamped_as_np_interp_did():
    metres = np.array([[0.0, 0.5, 12.0]])
    got = metres_to_pixels(torch.tensor(metres), NEAR, FAR).numpy() * 2 / 100
    assert np.allclose(got, pytti_depth(metres, NEAR, FAR, 100)) and METRES == (1e-3, 10.0)


# -- PyTTI's demo, imported -----------------------------------------------------------------


class SceneDepth:
    """A metric depth model that sees every picture as one synthetic scene."""

    metric = True

    def __init__(self, metres):
        self.metres = torch.tensor(metres, dtype=torch.float32)[None, None]

    def depth(self, image, near, far):
        return metres_to_pixels(self.metres, near, far)


def frame_motion_rms(settings, metres, t):
    """RMS pixel motion of the warp one frame applies at t seconds, over a depth map."""
    run_plan = plan_run(from_dict(settings), check_models=False)
    width, height = run_plan.output_size
    animator = CameraAnimator(run_plan, "cpu", depth_model=SceneDepth(metres))
    image = SimpleNamespace(
        output_size=(width, height),
        width=width,
        height=height,
        decode=lambda: torch.zeros(1, 3, height, width),
    )
    steps = run_plan.clock.steps_per_frame * run_plan.clock.frames_per_second
    frame = round(t * run_plan.clock.frames_per_second)
    ctx = StepContext(
        step=run_plan.clock.pre_animation_steps + round(t * steps), scene=0, blend=1.0, t=t,
        position=float(frame), frame=frame, frame_start=True, animating=True,
    )  # fmt: skip
    warp, _ = animator._camera_warp(image, ctx, no_timer)
    pixels = warp.displacement[0] * torch.tensor([width / 2, height / 2])
    return pixels.norm(dim=-1).square().mean().sqrt().item(), run_plan.settings


def test_pyttis_demo_imported_moves_at_pyttis_rate():
    data, _ = read_settings_file(FILES / "core_demo.yaml")
    metres = scene("tilted", 512, 512)  # PyTTI's demo is 512 x 512, FOV 60, planes 1 and 10000
    rms, s = frame_motion_rms(data, metres, t=5.0)
    assert (s.width, s.height, s.field_of_view, s.camera) == (512, 512, 60.0, "pytti")
    flow = pytti_flow(metres, demo_motion(5.0), 60.0, 1.0, 10000.0, 512, 512, True)
    pytti_rms = np.sqrt((flow**2).sum(0).mean())
    assert rms == pytest.approx(pytti_rms, rel=0.1)
    # the native pinhole, for the same settings, flies D/f times as fast
    native, _ = frame_motion_rms({**data, "camera": "pinhole"}, metres, t=5.0)
    assert native > 4 * rms


def test_an_imported_pytti_file_gets_pyttis_camera_and_metric_depth_for_its_depth_range():
    from pytti_nb.config.pytti_import import from_pytti

    pytti = {"scenes": "a room", "animation_mode": "3D", "translate_z_3d": "mu / 100"}
    ours, _ = from_pytti(pytti)
    s = plan_run(from_dict(ours), check_models=False).settings  # a relative model is refused
    assert (s.camera, s.depth_model) == ("pytti", METRIC_EXAMPLE)
    native = from_dict({"scenes": "a room"})
    assert (native.camera, native.depth_model) == ("pinhole", DEFAULT)
