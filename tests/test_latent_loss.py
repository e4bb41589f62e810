"""PyTTI's latent losses (direct_loss: pytti) against a torch copy of PyTTI's code (pytti-core
b5070aa) on a tiny VQGAN: VQGAN's LatentLoss for direct targets, init and direct stabilisation,
and the latent part of Video Source's flow loss; an imported PyTTI VQGAN file gets them."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import functional as TF

from pytti_nb.config.plan import plan_run
from pytti_nb.config.pytti_import import from_pytti
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.session import Session
from pytti_nb.image_models import LimitedPalette, VQGANImage
from pytti_nb.losses.functional import hsv_mse
from pytti_nb.losses.latent import latent_loss, latent_mse
from pytti_nb.models import ModelCache
from pytti_nb.models.vqgan import load_vqgan_model

pytestmark = pytest.mark.numerics

SIZE = 16  # the tiny VQGAN's f is 4: a 4 x 4 grid of codes


@pytest.fixture(scope="module")
def vqgan(tiny_vqgan):
    return load_vqgan_model(str(tiny_vqgan), device="cpu")


@pytest.fixture(scope="module")
def models():
    return ModelCache()


# -- PyTTI's code, in torch -----------------------------------------------------------------------


class ReplaceGrad(torch.autograd.Function):
    """tensor_tools.replace_grad: forward x_forward, backward into x_backward."""

    @staticmethod
    def forward(ctx, x_forward, x_backward):
        ctx.shape = x_backward.shape
        return x_forward

    @staticmethod
    def backward(ctx, grad_in):
        return None, grad_in.sum_to_size(ctx.shape)


def vector_quantize(x, codebook):
    """image_models/vqgan.py 117-125 (x channels last)."""
    d = x.pow(2).sum(dim=-1, keepdim=True) + codebook.pow(2).sum(dim=1) - 2 * x @ codebook.T
    indices = d.argmin(-1)
    x_q = F.one_hot(indices, codebook.shape[0]).to(d.dtype) @ codebook
    return ReplaceGrad.apply(x_q, x)


def get_latent_tensor(z, codebook):
    """vqgan.py 198-205; PyTTI keeps z channels last, ours [1,e,h,w]."""
    return vector_quantize(z.movedim(1, 3), codebook).movedim(3, 1)


@torch.no_grad()
def make_latent(model, image):
    """vqgan.py 233-244: taming's encode (quant_conv, then its quantiser), quantised again."""
    z = model.quant_conv(model.encoder(image * 2 - 1))
    z = vector_quantize(z.movedim(1, 3), model.codebook).movedim(3, 1)  # taming's VQModel.encode
    return vector_quantize(z.movedim(1, 3), model.codebook).movedim(3, 1)


def mse_get_loss(input, comp, mask=None):
    """MSELossClass.py 116-125: the mask resized to the input's grid with TF.resize (bilinear;
    PyTTI's torchvision did not antialias tensors), then F.mse_loss of both masked."""
    if mask is None:
        return F.mse_loss(input, comp)
    if mask.shape[-2:] != input.shape[-2:]:
        mask = TF.resize(mask, list(input.shape[-2:]), antialias=False)
    return F.mse_loss(input * mask, comp * mask)


def pytti_latent_loss(input, z, target, model, mask=None):
    """LatentLossClass.py 63-71 (its pixel part with the mask as given: see below)."""
    l1 = mse_get_loss(get_latent_tensor(z, model.codebook), make_latent(model, target), mask) / 2
    l2 = mse_get_loss(input, target, mask) / 10
    return l1 + l2


def pytti_weighted(loss_raw, weight, stop=-math.inf):
    """BaseLossClass.py 34-44: |w| * replace_grad(l * sign(w), max(l * sign(w), stop))."""
    weight, stop = torch.as_tensor(weight), torch.as_tensor(stop)
    loss = loss_raw * weight.sign()
    return weight.abs() * ReplaceGrad.apply(loss, torch.maximum(loss, stop))


# -- the losses -----------------------------------------------------------------------------------


def image_and_target(vqgan, seed=0):
    """A VQGAN image of random codes, and a smooth target picture."""
    image = VQGANImage(SIZE, SIZE, generator=torch.Generator().manual_seed(seed), vqgan=vqgan)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, SIZE), torch.linspace(0, 1, SIZE), indexing="ij")
    target = torch.stack((xs, ys, 1 - xs * ys))[None]
    return image, target


def value_and_grad(loss, z):
    """A loss's value and its gradient to z."""
    (grad,) = torch.autograd.grad(loss, z)
    return loss.detach(), grad


@pytest.mark.parametrize(
    "weight, stop", [(1.0, -math.inf), (-2.0, -math.inf), (3.0, 1e-6), (3.0, 9)]
)
def test_the_latent_loss_is_pyttis_in_value_and_gradient(vqgan, weight, stop):
    from pytti_nb.losses.functional import stopped

    image, target = image_and_target(vqgan)
    goal = image.latent_target(target)
    ours = stopped(latent_loss(image.decode(), target, image.latent(), goal), weight, stop)
    ours_v, ours_g = value_and_grad(ours, image.z)
    theirs = pytti_latent_loss(image.decode(), image.z, target, vqgan)
    their_v, their_g = value_and_grad(pytti_weighted(theirs, weight, stop), image.z)
    assert torch.allclose(ours_v, their_v, rtol=1e-5)
    assert torch.allclose(ours_g, their_g, rtol=1e-4, atol=1e-7)
    assert bool(ours_g.abs().sum() > 0) == bool(ours_v / abs(weight) > stop)  # no pull below


def test_the_latent_part_resizes_the_mask_to_the_codes_as_pytti_did(vqgan):
    image, target = image_and_target(vqgan, seed=1)
    mask = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    latent, goal = image.latent(), image.latent_target(target)
    assert torch.allclose(latent_mse(latent, goal, mask), mse_get_loss(latent, goal, mask))


def test_pyttis_pixel_part_took_the_mask_through_the_codes_and_ours_does_not(vqgan):
    # LatentLoss.get_loss stores the latent-sized mask with the overridden set_mask, which also
    # gives it to its pixel loss, which then resizes it back up (LatentLossClass.py 55-57,
    # MSELossClass.py 118-122): a bug; ours takes the mask as given
    image, target = image_and_target(vqgan, seed=1)
    mask = (torch.arange(SIZE) % 2).float().expand(1, 1, SIZE, SIZE)  # finer than the codes
    rgb = image.decode()
    ours = latent_loss(rgb, target, image.latent(), image.latent_target(target), mask)
    as_given = pytti_latent_loss(rgb, image.z, target, vqgan, mask)
    small = TF.resize(mask, [SIZE // vqgan.factor] * 2, antialias=False)
    round_trip = TF.resize(small, [SIZE, SIZE], antialias=False)
    assert torch.allclose(ours, as_given, rtol=1e-5)
    assert not torch.allclose(round_trip, mask, atol=0.1)


def test_limited_palettes_latent_is_its_levels_and_palette_choices():
    lp = LimitedPalette(6, 5, generator=torch.Generator().manual_seed(0), palettes=3)
    latent = lp.latent()
    # PyTTI's get_image_tensor, cat([value.unsqueeze(0), tensor]) (pixel.py 295-296)
    assert torch.equal(latent[0], torch.cat((lp.value[0], lp.logits[0])))
    assert latent.requires_grad and lp.latent_strength == 0.1 and not lp.direct_latent


# -- an imported PyTTI file -----------------------------------------------------------------------


def picture(path, seed):
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray((rng.random((4, 4, 3)) * 255).astype(np.uint8))
    coarse.resize((SIZE, SIZE), Image.BICUBIC).save(path)
    return str(path)


def imported_vqgan_session(tmp_path, tiny_vqgan, models, **pytti):
    """A session of a PyTTI VQGAN file, imported, on the tiny VQGAN and the demo perceptor."""
    file = {
        "scenes": "a red circle",
        "image_model": "VQGAN",
        "width": SIZE,
        "height": SIZE,
        "pixel_size": 1,
        "init_image": picture(tmp_path / "init.png", 0),
        "direct_init_weight": "0.5",
        "direct_image_prompts": picture(tmp_path / "target.png", 1) + ":2",
        "animation_mode": "2D",
        "translate_x": "4",
        "direct_stabilization_weight": "3:0.001",
        **pytti,
    }
    ours, _ = from_pytti(file)
    assert ours["direct_loss"] == "pytti"
    ours |= {
        "vqgan_model": str(tiny_vqgan), "perceptors": ["demo"], "cutouts": 2, "seed": 1,
        "device": "cpu", "output_root": str(tmp_path / "out"), "steps_per_frame": 2,
    }  # fmt: skip
    return Session(plan_run(from_dict(ours)), models)


def assert_pyttis(term, ctx, session, target, weight, stop=-math.inf):
    """The term's loss at this step is PyTTI's LatentLoss of the same image, codes and target."""
    image = session.image
    rgb = image.decode()
    ours = value_and_grad(term.loss(rgb, ctx), image.z)
    rgb = image.decode()
    theirs = pytti_weighted(pytti_latent_loss(rgb, image.z, target, image.vqgan), weight, stop)
    theirs = value_and_grad(theirs, image.z)
    assert torch.allclose(ours[0], theirs[0], rtol=1e-5), term.name
    assert torch.allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-7), term.name


def test_an_imported_pytti_vqgan_files_direct_losses_are_pyttis(tmp_path, tiny_vqgan, models):
    session = imported_vqgan_session(tmp_path, tiny_vqgan, models)
    clock = session.run_plan.clock
    ctx = clock.at(0)
    init, prompt = session.term("direct_init"), session.term("direct_0")
    stabilization = session.term("stabilization_direct")
    assert_pyttis(init, ctx, session, init.target, 0.5)
    assert_pyttis(prompt, ctx, session, prompt.target, 2.0)
    # before the first frame the stabilisation holds to the init image (PyTTI)
    assert torch.equal(stabilization.reference["rgb"], init.target)
    assert_pyttis(stabilization, ctx, session, init.target, 3.0, 0.001)
    # at a frame start its reference is the moved picture, its codes encoded once there
    frame = clock.at(clock.frame_start_step(0))
    session.begin_frame(frame)
    moved = stabilization.reference["rgb"]
    assert not torch.equal(moved, init.target)
    assert torch.equal(stabilization.reference["latent"], make_latent(session.image.vqgan, moved))
    assert_pyttis(stabilization, frame, session, moved, 3.0, 0.001)


def test_a_native_vqgan_run_keeps_the_hsv_loss(tmp_path, tiny_vqgan, models):
    session = imported_vqgan_session(tmp_path, tiny_vqgan, models)
    native = plan_run(from_dict({**_settings(session), "direct_loss": "hsv"}))
    session = Session(native, models)
    term, ctx = session.term("direct_0"), native.clock.at(0)
    rgb = session.image.decode()
    assert term.latent is None
    assert torch.allclose(term.loss(rgb, ctx), 2.0 * hsv_mse(rgb, term.target))


def _settings(session):
    from pytti_nb.config.settings import to_dict

    return to_dict(session.settings)


# -- Video Source's flow loss ---------------------------------------------------------------------


def pytti_optical_flow_loss(input, target, mask, latent, target_latent, strength):
    """OpticalFlowLossClass.py 473-476 with the masks of set_flow_mask (431-435): the pixel MSE
    and latent_strength times the latent MSE, the flow mask resized to the latent's grid."""
    l1 = mse_get_loss(input, target, mask)
    l2 = mse_get_loss(latent, target_latent, mask)
    return l1 + l2 * strength


@pytest.fixture(scope="module")
def square_video(tmp_path_factory):
    from media import square_video

    return square_video(tmp_path_factory.mktemp("video") / "square.mp4", frames=4)


@pytest.mark.parametrize("model", ["VQGAN", "Limited Palette"])
def test_video_sources_flow_loss_adds_pyttis_latent_part(
    model, square_video, tmp_path, tiny_vqgan, models
):
    settings = {
        "scenes": "a red circle", "perceptors": ["demo"], "width": 96, "height": 72,
        "pixel_size": 1, "cutouts": 2, "steps_per_frame": 1, "seed": 1, "device": "cpu",
        "animation_mode": "Video Source", "video_path": str(square_video), "flow_model": "dis",
        "reencode_each_frame": False, "flow_long_term_samples": 1,
        "flow_stabilization_weight": "2", "direct_loss": "pytti", "image_model": model,
        "vqgan_model": str(tiny_vqgan), "palettes": 3, "output_root": str(tmp_path),
    }  # fmt: skip
    run_plan = plan_run(from_dict(settings))
    session = Session(run_plan, models)
    clock, image = run_plan.clock, session.image
    for frame in (0, 1):  # frame 1 also holds to frame -1's output (a long-term sample)
        session.begin_frame(clock.at(clock.frame_start_step(frame)))
    term = session.term("stabilization_flow")
    assert len(term.targets) == len(term.latents) == 2
    # the nearest sample's latent is the model's right after the move (no re-encode here)
    assert torch.allclose(term.latents[0], image.latent().detach())
    params = [p for p in image.parameters() if p.requires_grad]
    with torch.no_grad():  # as if the frame's steps had moved the image on
        for p in params:
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 0.5)
    pairs = zip(term.targets, term.latents, strict=True)
    assert sum(latent_mse(image.latent(), x, mask) for (_, mask), x in pairs) > 0
    ctx = clock.at(clock.frame_start_step(1))
    ours = torch.autograd.grad(term.loss(image.decode(), ctx), params, allow_unused=True)
    rgb, total = image.decode(), 0  # PyTTI decodes once per step (ImageGuide.py 277)
    for (target, mask), latent in zip(term.targets, term.latents, strict=True):
        raw = pytti_optical_flow_loss(
            rgb, target, mask, image.latent(), latent, image.latent_strength
        )
        total = total + pytti_weighted(raw, 2.0)
    theirs = torch.autograd.grad(total, params, allow_unused=True)
    assert torch.allclose(term.loss(image.decode(), ctx), total.detach(), rtol=1e-5)
    for a, b in zip(ours, theirs, strict=True):
        assert (a is None) == (b is None)
        assert a is None or torch.allclose(a, b, rtol=1e-4, atol=1e-7)
    # a resumed run has the frame's latent targets and the outputs' latents to look back at
    resumed = Session(run_plan, models, resume=session.state_dict())
    again = resumed.term("stabilization_flow").latents
    assert all(torch.equal(a, b) for a, b in zip(again, term.latents, strict=True))
    assert set(resumed.animator.kept_latents) == set(session.animator.kept_latents) == {-1, 0}


def test_the_import_report_names_the_masks_and_flow_losses_that_still_differ():
    from pytti_nb.config.pytti_import import import_pytti

    file = {
        "scenes": "a castle", "image_model": "VQGAN", "animation_mode": "2D",
        "direct_image_prompts": "castle.png:1_mask.png | sky.png:1",
        "direct_stabilization_weight": "2",
    }  # fmt: skip
    _, notes = import_pytti(file, [])
    (line,) = [n for n in notes if "[latent-loss]" in n]
    assert "castle.png:1_mask.png" in line and "sky.png" not in line
    assert "direct_stabilization_weight" not in line and "direct_loss: pytti" in line
    _, notes = import_pytti({**file, "direct_image_prompts": "sky.png:1"}, [])
    assert not [n for n in notes if "[latent-loss]" in n]  # PyTTI's loss exactly
