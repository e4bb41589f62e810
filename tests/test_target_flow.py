"""3D flow stabilisation as PyTTI weighed it (flow_stabilization_3d: pytti): the pixel MSE to the
moved previous frame, scaled once per frame, against a torch copy of PyTTI's TargetFlowLoss
(pytti-core b5070aa, LossAug/OpticalFlowLossClass.py 156-159 and 193-199) given the true flow,
on synthetic pictures moved by a camera over a synthetic depth map."""

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import functional as TF

from pytti_nb.animation import three_d
from pytti_nb.animation.base import FrameRefs
from pytti_nb.animation.warp import Warp
from pytti_nb.config.clock import StepContext
from pytti_nb.config.plan import plan_run
from pytti_nb.config.pytti_import import from_pytti
from pytti_nb.config.settings import from_dict
from pytti_nb.lang.prompts import parse_target_weight
from pytti_nb.losses.functional import masked_mse
from pytti_nb.losses.stabilization import FlowStabilization
from pytti_nb.losses.target_flow import target_flow_scale

pytestmark = pytest.mark.numerics

S = 64  # output pixels, square
MOTIONS = [(10, 60), (5, 30), (20, 120), (0, 80)]  # (translate_x, translate_z_3d)
CTX = StepContext(
    step=0, scene=0, blend=1.0, t=0.0, position=0.0, frame=0, frame_start=False, animating=True
)


# -- PyTTI's TargetFlowLoss, in torch -------------------------------------------------------------


def pytti_target_flow_loss(flow, camera_flow, mask=None):
    """set_target_flow (156-159): comp = the camera flow, mag = its mean squared length;
    get_loss (193-199): MSELoss of the flow model's flow, resized to comp, over mag. `flow` is
    what GMA(last_step, input) returned; here the true flow."""
    comp = camera_flow[None]
    mag = float(torch.linalg.norm(comp, dim=1).square().mean())
    flow = TF.resize(flow[None], list(comp.shape[-2:]), antialias=False)
    if mask is None:  # MSELossClass.py 116-125
        return F.mse_loss(flow, comp) / mag
    return F.mse_loss(flow * mask, comp * mask) / mag


# -- a synthetic scene ----------------------------------------------------------------------------


def texture(seed):
    """A smooth picture [1,3,S,S]: per channel twelve waves of 10-20 px in random directions."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(S) + 0.5, torch.arange(S) + 0.5, indexing="ij")
    channels = []
    for _ in range(3):
        waves = torch.zeros(S, S)
        for _ in range(12):
            angle, length, phase = torch.rand(3, generator=g) * torch.tensor([2 * math.pi, 10, 6])
            k = 2 * math.pi / (10 + length)
            waves += torch.cos(k * (xs * torch.cos(angle) + ys * torch.sin(angle)) + phase)
        channels.append(0.5 + 0.4 * waves / waves.abs().max())
    return torch.stack(channels)[None]


def flow_error(seed, rms):
    """A smooth random flow error [2,S,S] of this RMS per component, in pixels."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, 2, 4, 4, generator=g)
    field = F.interpolate(coarse, size=(S, S), mode="bicubic", align_corners=False)[0]
    return field / field.square().mean().sqrt() * rms


def camera_flow(translate_x, translate_z):
    """PyTTI's camera (camera: pytti) over a tilted plane 300 to 426 px deep: the flow [2,S,S]."""
    depth = (300 + 2 * torch.arange(S).float())[None, None, :, None].expand(1, 1, S, S)
    motion = {
        "translate_x": translate_x, "translate_y": 0.0, "translate_z_3d": translate_z,
        "rotate_3d": [1.0, 0.0, 0.0, 0.0],
    }  # fmt: skip
    return three_d.forward_flow(depth, motion, 60.0, (S, S), False, "pytti")


def moved(picture, flow):
    """The picture moved by a forward flow [2,S,S] (the exact inverse warp)."""
    return Warp(
        sampling="bicubic", infill="smear", displacement=three_d.displacement(flow, (S, S))
    ).apply(picture)


def interior():
    """A reliability mask: the frame's edges (where the moved picture is infill) left out."""
    mask = torch.zeros(1, 1, S, S)
    mask[..., 4:-4, 4:-4] = 1
    return mask


def ratio(motion, seed, rms, mask=None):
    """Ours over PyTTI's for the last frame moved by the camera (W) and by the camera plus a
    flow error (the image I): ours from the pictures, PyTTI's from the true flow."""
    camera = camera_flow(*motion)
    error = flow_error(seed + 10, rms)
    last = texture(seed)
    target, image = moved(last, camera), moved(last, camera + error)
    reliable = interior()
    both = reliable if mask is None else reliable * mask
    ours = target_flow_scale(target, reliable, camera, mask) * masked_mse(image, target, both)
    return float(ours / pytti_target_flow_loss(camera + error, camera, mask))


# -- the conversion -------------------------------------------------------------------------------


def test_the_scaled_pixel_mse_is_pyttis_target_flow_loss_to_first_order():
    # the camera flows' mean squares span 0.9 to 27 px^2 and the errors 0.1 and 0.3 px: the
    # pixel MSE alone would be off by those factors, the scaled one is PyTTI's within 50%
    ratios = [ratio(m, seed, rms) for m in MOTIONS for seed in range(3) for rms in (0.1, 0.3)]
    assert all(0.6 < r < 1.5 for r in ratios), ratios
    assert 0.8 < sum(ratios) / len(ratios) < 1.25


def test_a_weights_mask_weighs_both_losses_alike():
    # PyTTI masked its flow MSE with the weight's mask; ours masks the pixel MSE and the factor
    ys = torch.arange(S).float()[None, None, :, None].expand(1, 1, S, S)
    mask = 0.2 + 0.8 * (ys < S / 2)
    ratios = [ratio(m, seed, 0.2, mask) for m in MOTIONS[:2] for seed in range(2)]
    assert all(0.6 < r < 1.5 for r in ratios), ratios


def test_a_still_camera_or_a_flat_picture_gives_a_finite_factor():
    still = torch.zeros(2, S, S)  # lock_camera removes a uniform pan: PyTTI divided by 0
    assert not math.isfinite(float(pytti_target_flow_loss(still, still)))
    picture = texture(0)
    assert math.isfinite(float(target_flow_scale(picture, interior(), still)))
    flat = torch.full((1, 3, S, S), 0.5)
    assert math.isfinite(float(target_flow_scale(flat, interior(), camera_flow(10, 60))))


def test_the_term_scales_its_3d_targets_once_per_frame_when_asked():
    camera, last = camera_flow(10, 60), texture(1)
    target, image = moved(last, camera), moved(last, camera + flow_error(5, 0.2))
    refs = FrameRefs(target, flow_targets=[(target, interior())], camera_flow=camera)
    weight = parse_target_weight("2", pixel=True)
    pixel, pytti = FlowStabilization(weight), FlowStabilization(weight, pytti_3d=True)
    for term in (pixel, pytti):
        term.on_frame(refs, CTX)
    mse = masked_mse(image, target, interior())
    scale = target_flow_scale(target, interior(), camera)
    assert torch.allclose(pixel.loss(image, CTX), 2 * mse)
    assert torch.allclose(pytti.loss(image, CTX), 2 * scale * mse)
    # the factor is kept with the targets: a resumed run or a steered term has it
    restored = FlowStabilization(weight, pytti_3d=True)
    restored.load_state_dict(pixel.state_dict())
    assert torch.allclose(restored.loss(image, CTX), pytti.loss(image, CTX))


def test_a_video_sources_flow_is_never_scaled():
    target = texture(2)
    refs = FrameRefs(target, flow_targets=[(target, interior())])  # no camera flow
    term = FlowStabilization(parse_target_weight("1", pixel=True), pytti_3d=True)
    term.on_frame(refs, CTX)
    image = texture(3)
    assert term.scales == []
    assert torch.allclose(term.loss(image, CTX), masked_mse(image, target, interior()))


# -- imports and runs -----------------------------------------------------------------------------


def test_an_imported_3d_file_weighs_flow_as_pytti_did():
    ours, _ = from_pytti(
        {"scenes": "a room", "animation_mode": "3D", "flow_stabilization_weight": "1"}
    )
    assert ours["flow_stabilization_3d"] == "pytti"
    assert from_dict({"scenes": "a room"}).flow_stabilization_3d == "pixel"


def test_a_3d_frame_hands_the_camera_flow_to_the_term():
    from pytti_nb.animation.animator import CameraAnimator
    from pytti_nb.image_models import UnlimitedPalette
    from pytti_nb.models.flow import DisFlow

    settings = {
        "scenes": "a red circle", "width": 32, "height": 32, "pixel_size": 1,
        "animation_mode": "3D", "depth_model": "none", "flow_model": "dis", "translate_x": "4",
        "lock_camera": False, "flow_stabilization_weight": "1", "flow_stabilization_3d": "pytti",
    }  # fmt: skip
    run_plan = plan_run(from_dict(settings), check_models=False)
    animator = CameraAnimator(run_plan, "cpu", flow_model=DisFlow())
    image = UnlimitedPalette(32, 32, generator=torch.Generator().manual_seed(0))
    ctx = run_plan.clock.at(run_plan.clock.frame_start_step(0))
    refs = animator.begin_frame(image, None, ctx)
    assert refs.camera_flow.shape == (2, 32, 32) and float(refs.camera_flow.abs().max()) > 0
    term = FlowStabilization(run_plan.weights["flow_stabilization_weight"], pytti_3d=True)
    term.on_frame(refs, ctx)
    (target, reliable), (scale,) = term.targets[0], term.scales
    assert torch.equal(scale, target_flow_scale(target, reliable, refs.camera_flow))


def test_the_import_report_says_the_3d_flow_weight_is_converted():
    from pytti_nb.config.pytti_import import import_pytti

    data = {"scenes": "a room", "animation_mode": "3D", "flow_stabilization_weight": "2"}
    _, notes = import_pytti(data, [])
    (line,) = [n for n in notes if "[flow-3d]" in n]
    assert "flow_stabilization_weight '2'" in line and "converted each frame" in line
