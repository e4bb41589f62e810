"""Animation: the picture moves the way the motion says, in 2D and 3D, and stabilisation holds it.

Motion is measured on renders whose optimisation is nearly frozen (a learning rate of 1e-6), so
what changes between saved frames is the warp alone: the centroids of bright blobs in the init
image are tracked from frame to frame, and phase correlation measures translations of noise.
"""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from pytti_nb.animation import three_d
from pytti_nb.animation.motion import focal_length
from pytti_nb.animation.warp import identity_grid
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.io.checkpoint import load_checkpoint, save_checkpoint
from pytti_nb.models import ModelCache
from pytti_nb.run import steer

pytestmark = [pytest.mark.numerics, pytest.mark.colab_stack]

WIDTH, HEIGHT = 48, 40  # not square: rotations must be true rotations on any aspect
BLOBS = [(12.0, 0.0), (0.0, 9.0), (-12.0, 0.0), (0.0, -9.0), (7.0, 6.0)]  # offsets from centre


@pytest.fixture(scope="module")
def models():
    return ModelCache()


@pytest.fixture(scope="module")
def blob_image(tmp_path_factory):
    """A black image with small Gaussian blobs at known offsets from the centre."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH] + 0.5
    image = np.zeros((HEIGHT, WIDTH))
    for dx, dy in BLOBS:
        image += np.exp(-((xs - WIDTH / 2 - dx) ** 2 + (ys - HEIGHT / 2 - dy) ** 2) / (2 * 1.2**2))
    path = tmp_path_factory.mktemp("blobs") / "blobs.png"
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).convert("RGB").save(path)
    return path


def frozen(blob_image, tmp_path, **motion):
    """Settings of a nearly frozen animation: one step per frame, every frame saved."""
    return {
        "scenes": "a red circle",
        "perceptors": ["demo"],
        "width": WIDTH,
        "height": HEIGHT,
        "pixel_size": 1,
        "cutouts": 1,
        "steps_per_scene": 4,
        "steps_per_frame": 1,
        "save_every": 1,
        "display_every": 1,
        "learning_rate": 1e-6,
        "smoothing_weight": 0,
        "seed": 3,
        "device": "cpu",
        "init_image": str(blob_image),
        "sampling_mode": "bicubic",
        "infill_mode": "black",
        "output_root": str(tmp_path),
        **motion,
    }


def saved_frames(settings, models):
    """The image of every saved frame, as float grey arrays, after the init image if any."""
    r = Session(plan_run(from_dict(settings)), models)
    frames = [s.image.mean(axis=2) / 255 for s in snapshots(r) if s.save_number]
    init = settings.get("init_image")
    start = [np.asarray(Image.open(init).convert("L"), dtype=float) / 255] if init else []
    return start + frames, r


def centroid(image, near, radius=4.0):
    """Intensity centroid (offset from the centre) of the blob closest to `near`, refined twice."""
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]] + 0.5
    xs, ys = xs - image.shape[1] / 2, ys - image.shape[0] / 2
    x, y = near
    for _ in range(3):
        w = image * (((xs - x) ** 2 + (ys - y) ** 2) < radius**2)
        x, y = (w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()
    return np.array([x, y])


def assert_blobs_move(frames, move, tolerance=0.25):
    """Every blob, followed from frame to frame, moves as `move(offset)` predicts."""
    for blob in BLOBS:
        position = centroid(frames[0], blob)
        for frame in frames[1:]:
            if np.abs(position).max() > 14:
                break  # left the well-measured middle of the picture
            expected = move(position)
            position = centroid(frame, expected)
            assert np.allclose(position, expected, atol=tolerance), (blob, position, expected)


def phase_shift(a, b):
    """The integer (dx, dy) that moves image a onto image b, by phase correlation."""
    cross = np.fft.fft2(b) * np.conj(np.fft.fft2(a))
    peak = np.fft.ifft2(cross / (np.abs(cross) + 1e-12)).real
    dy, dx = np.unravel_index(np.argmax(peak), peak.shape)
    return (dx if dx <= a.shape[1] // 2 else dx - a.shape[1]), (
        dy if dy <= a.shape[0] // 2 else dy - a.shape[0]
    )


def test_translate_moves_the_picture_right_and_up_in_pixels_per_frame(blob_image, tmp_path, models):
    settings = frozen(blob_image, tmp_path, animation_mode="2D", translate_x=4, translate_y=3)
    frames, _ = saved_frames(settings, models)
    assert_blobs_move(frames, lambda p: p + np.array([4.0, -3.0]))


def test_translate_of_noise_measured_by_phase_correlation(tmp_path, models):
    settings = frozen(None, tmp_path, animation_mode="2D", translate_x=4, infill_mode="wrap")
    del settings["init_image"]  # the random start: noise, which correlates sharply
    frames, _ = saved_frames(settings, models)
    shifts = {phase_shift(a, b) for a, b in zip(frames, frames[1:], strict=False)}
    assert shifts == {(4, 0)}


def test_rotate_2d_turns_the_picture_counterclockwise(blob_image, tmp_path, models):
    settings = frozen(blob_image, tmp_path, animation_mode="2D", rotate_2d=10)
    frames, _ = saved_frames(settings, models)
    c, s = math.cos(math.radians(10)), math.sin(math.radians(10))
    # counterclockwise on screen: with y pointing down, (x, y) -> (x c + y s, -x s + y c)
    assert_blobs_move(frames, lambda p: np.array([p[0] * c + p[1] * s, -p[0] * s + p[1] * c]))


def test_zoom_x_2d_magnifies_horizontally(blob_image, tmp_path, models):
    settings = frozen(blob_image, tmp_path, animation_mode="2D", zoom_x_2d=4)
    frames, _ = saved_frames(settings, models)
    scale = WIDTH / (WIDTH - 4)
    assert_blobs_move(frames[:2], lambda p: np.array([p[0] * scale, p[1]]))


def test_translate_z_3d_without_a_depth_model_zooms_in(blob_image, tmp_path, models):
    settings = frozen(
        blob_image, tmp_path, animation_mode="3D", depth_model="none", translate_z_3d=3
    )
    frames, r = saved_frames(settings, models)
    f = focal_length(HEIGHT, 60.0)
    assert_blobs_move(frames[:2], lambda p: p * f / (f - 3))
    assert r.animator.values["mu"] == pytest.approx(f)


def plane_depth(height, width, out_size, fov, normal, distance):
    """Depth in pixels of a plane n . P = d seen by the camera, on an h x w grid."""
    xy = three_d.pixel_centres(height, width, out_size[1], out_size[0], "cpu")
    f = focal_length(out_size[1], fov)
    rays = torch.stack((xy[0] / f, xy[1] / f, torch.ones(height, width)))
    return distance / torch.einsum("i,ihw->hw", torch.tensor(normal), rays)


def homography(motion, fov, out_h, normal, distance):
    """The analytic map of a plane's pixels under the camera motion: K R (I + t n^T / d) K^-1."""
    f = focal_length(out_h, fov)
    k = torch.tensor([[f, 0, 0], [0, f, 0], [0, 0, 1.0]])
    t = torch.tensor([motion["translate_x"], -motion["translate_y"], -motion["translate_z_3d"]])
    m = three_d.rotation_matrix(motion["rotate_3d"]) @ (
        torch.eye(3) + torch.outer(t, torch.tensor(normal)) / distance
    )
    return k @ m @ torch.linalg.inv(k)


MOTION = {
    "translate_x": 3.0,
    "translate_y": -2.0,
    "translate_z_3d": 8.0,
    "rotate_3d": (math.cos(math.radians(1)), 0.0, math.sin(math.radians(1)), 0.0),
}
TILTED = ([0.0, math.sin(math.radians(25)), math.cos(math.radians(25))], 200.0)


def test_3d_warp_of_a_plane_is_its_homography():
    normal, distance = TILTED
    depth = plane_depth(HEIGHT, WIDTH, (WIDTH, HEIGHT), 60.0, normal, distance)
    flow = three_d.forward_flow(depth[None, None], MOTION, 60.0, (WIDTH, HEIGHT), False)
    grid = identity_grid(HEIGHT, WIDTH, "cpu") + three_d.displacement(flow, (WIDTH, HEIGHT))
    ours = torch.stack(((grid[0, ..., 0] + 1) * WIDTH / 2, (grid[0, ..., 1] + 1) * HEIGHT / 2))
    ours = ours - torch.tensor([WIDTH / 2, HEIGHT / 2]).view(2, 1, 1)
    new = three_d.pixel_centres(HEIGHT, WIDTH, HEIGHT, WIDTH, "cpu").reshape(2, -1)
    inverse = torch.linalg.inv(homography(MOTION, 60.0, HEIGHT, normal, distance))
    source = inverse @ torch.cat((new, torch.ones(1, new.shape[1])))
    source = (source[:2] / source[2]).reshape(2, HEIGHT, WIDTH)
    inside = (source[0].abs() < WIDTH / 2 - 2) & (source[1].abs() < HEIGHT / 2 - 2)
    assert inside.float().mean() > 0.7
    assert (ours - source).norm(dim=0)[inside].max() < 0.01  # pixels


class PlaneDepth:
    """A depth model that sees every picture as the tilted plane (for the end-to-end check)."""

    metric = True  # depth in pixels as it is, not rescaled per frame

    def __init__(self, normal, distance):
        self.normal, self.distance = normal, distance

    def depth(self, image, near, far):
        height, width = image.shape[-2:]
        plane = plane_depth(height, width, (width, height), 60.0, self.normal, self.distance)
        return plane[None, None]


class PlaneModels(ModelCache):
    """A model cache whose depth model is PlaneDepth."""

    def depth(self, spec, **_):
        return PlaneDepth(*TILTED)


def test_3d_render_over_a_planar_depth_map_follows_the_homography(
    blob_image, tmp_path, models, tiny_depth_model
):
    planes = PlaneModels()
    planes._loaded.update(models._loaded)  # the demo perceptor, already loaded
    motion = {k: v for k, v in MOTION.items() if k != "rotate_3d"}
    rotate = "[" + ", ".join(str(v) for v in MOTION["rotate_3d"]) + "]"
    settings = frozen(
        blob_image,
        tmp_path,
        animation_mode="3D",
        depth_model=str(tiny_depth_model),
        lock_camera=False,
        rotate_3d=rotate,
        **motion,
    )
    frames, _ = saved_frames(settings, planes)
    h = homography(MOTION, 60.0, HEIGHT, *TILTED)

    def move(p):
        q = h @ torch.tensor([p[0], p[1], 1.0], dtype=torch.float32)
        return (q[:2] / q[2]).numpy()

    assert_blobs_move(frames[:2], move, tolerance=0.3)


def warped_difference(frames, shift):
    """Mean absolute change between consecutive frames after undoing the motion."""
    return np.mean(
        [
            np.abs(np.roll(a, shift, axis=1) - b).mean()
            for a, b in zip(frames, frames[1:], strict=False)
        ]
    )


def test_stabilization_and_warped_momentum_keep_consecutive_frames_closer(tmp_path, models):
    base = {  # the content moves 1 parameter pixel (2 output pixels) right per frame
        "scenes": "a red circle on a black background",
        "perceptors": ["demo"],
        "width": 16,
        "height": 16,
        "pixel_size": 2,
        "cutouts": 4,
        "steps_per_scene": 24,
        "steps_per_frame": 4,
        "save_every": 4,
        "display_every": 4,
        "learning_rate": 0.1,
        "seed": 5,
        "device": "cpu",
        "animation_mode": "2D",
        "translate_x": 1,
        "infill_mode": "wrap",
        "sampling_mode": "nearest",
        "output_root": str(tmp_path),
    }
    loose, _ = saved_frames(base, models)
    held, _ = saved_frames({**base, "direct_stabilization_weight": 100}, models)
    # Adam normalises step sizes, so a stabiliser must outweigh the prompts to hold pixels
    assert warped_difference(held, 2) < 0.75 * warped_difference(loose, 2)
    # momentum that follows the content keeps frames closer than PyTTI's restart every frame
    restarted, _ = saved_frames({**base, "reset_lr_each_frame": True}, models)
    assert warped_difference(loose, 2) < 0.6 * warped_difference(restarted, 2)


def resume_matches(settings, models, stop_at, tmp_path):
    """Stop mid-animation, save the checkpoint to disk, resume from it: same final bits."""
    whole = list(snapshots(Session(plan_run(from_dict(settings)), models)))[-1]
    r = Session(plan_run(from_dict(settings)), models)
    list(snapshots(r, should_stop=lambda: r.step >= stop_at))
    save_checkpoint(tmp_path, r.state_dict())
    resumed = Session(plan_run(from_dict(settings)), models, resume=load_checkpoint(tmp_path))
    last = list(snapshots(resumed))[-1]
    assert resumed.step == whole.step and np.array_equal(last.image, whole.image)
    return r


def test_2d_resume_mid_frame_is_exact(tmp_path, models, tiny):
    settings = {
        **tiny,
        "animation_mode": "2D",
        "pre_animation_steps": 2,
        "steps_per_frame": 3,
        "translate_x": "sin(t)*2",
        "rotate_2d": 5,
        "direct_stabilization_weight": 1,
        "edge_stabilization_weight": 1,
        "semantic_stabilization_weight": 0.5,
    }
    r = resume_matches(settings, models, stop_at=7, tmp_path=tmp_path)  # mid frame 1
    state = r.state_dict()
    assert {"stabilization_direct", "stabilization_edge", "semantic_stabilization"} <= set(
        state["terms"]
    )


def test_3d_resume_mid_frame_with_a_depth_model_is_exact(
    tmp_path, models, tiny, tiny_metric_depth_model
):
    settings = {
        **tiny,
        "animation_mode": "3D",
        "steps_per_frame": 3,
        "depth_model": str(tiny_metric_depth_model),  # metric: its depth range r, R, mu is read
        "translate_z_3d": "mu / 50",
        "rotate_3d": "[1, 0, 0.02, 0]",
        "depth_stabilization_weight": 1,
        "reset_lr_each_frame": True,
    }
    r = resume_matches(settings, models, stop_at=5, tmp_path=tmp_path)
    assert set(r.animator.values) >= {"translate_z_3d", "r", "R", "mu"}


def test_motion_steered_live_changes_the_next_frames(tmp_path, models, tiny_depth_model):
    settings = frozen(None, tmp_path, animation_mode="2D", translate_x=4, infill_mode="wrap")
    del settings["init_image"]
    settings.update(steps_per_scene=6, depth_model=str(tiny_depth_model))
    r = Session(plan_run(from_dict(settings)), models)
    assert r.depth_model is None  # nothing needs depth yet: not loaded
    frames, moves = [], []
    for snap in snapshots(r):
        frames.append(snap.image.mean(axis=2) / 255)
        moves.append(snap.settings.translate_x)  # each snapshot carries the settings in force
        if snap.step == 3:  # steer after the third frame: move left, hold by depth from now on
            steer(
                r,
                from_dict(
                    {
                        **settings,
                        "translate_x": -4,
                        "depth_stabilization_weight": 0.1,
                    }
                ),
            )
    shifts = [phase_shift(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    assert shifts == [(4, 0), (4, 0), (-4, 0), (-4, 0), (-4, 0)]
    before, after = from_dict(settings).translate_x, r.settings.translate_x
    assert before != after and moves == [before] * 3 + [after] * 3
    assert r.term("stabilization_depth").reference is not None


def test_3d_flow_stabilization_trusts_the_moved_frame_where_the_flow_is_the_cameras(
    tmp_path, models
):
    rng = np.random.default_rng(0)  # clouds: structure at every scale for the optical flow
    coarse = Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)).resize((64, 48), 3)
    fine = rng.random((48, 64, 3)) * 60 - 30
    clouds = np.clip(np.asarray(coarse, dtype=float) + fine, 0, 255).astype(np.uint8)
    Image.fromarray(clouds).save(tmp_path / "clouds.png")
    settings = frozen(
        tmp_path / "clouds.png", tmp_path, animation_mode="3D", depth_model="none",
        lock_camera=False, translate_x=6, infill_mode="black", flow_model="dis",
        flow_stabilization_weight=1, steps_per_scene=2, width=64, height=48,
    )  # fmt: skip
    r = Session(plan_run(from_dict(settings)), models)
    list(snapshots(r))
    (target, reliable), *more = r.term("stabilization_flow").targets
    assert not more and target.shape == reliable.shape[:1] + (3, 48, 64)
    # the camera moved the picture 6 pixels right: the 6 columns it uncovered are black infill,
    # which no flow explains, while the rest moved exactly as the camera says
    assert reliable[0, 0, 4:-4, :5].mean() < 0.05
    assert reliable[0, 0, 8:-8, 16:-8].mean() > 0.9
