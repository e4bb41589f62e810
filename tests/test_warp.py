"""Warps move images, image parameters and their Adam moments on the device."""

import math

import pytest
import torch

from pytti_nb.animation.warp import Warp, identity_grid
from pytti_nb.image_models import UnlimitedPalette

pytestmark = [pytest.mark.numerics, pytest.mark.colab_stack]


def translation(dx, dy, width, height, **kw):
    """A warp whose content moves dx pixels right and dy pixels down."""
    affine = torch.tensor([[1.0, 0.0, -2 * dx / width], [0.0, 1.0, -2 * dy / height]])
    return Warp(affine=affine, **kw)


def test_whole_pixel_translation_moves_content_exactly():
    x = torch.rand(1, 3, 10, 16)
    out = translation(3, 2, 16, 10, sampling="bicubic", infill="wrap").apply(x)
    assert torch.allclose(out, torch.roll(x, shifts=(2, 3), dims=(2, 3)), atol=1e-5)


@pytest.mark.parametrize("sampling", ["bilinear", "bicubic"])
@pytest.mark.parametrize("height, width", [(1, 1), (2, 3), (3, 2)])
def test_wrap_moves_tensors_too_small_to_pad_exactly(height, width, sampling):
    # a Pyramid's coarsest levels (1x1, 2x2, ...) are warped as the full picture is
    x = torch.rand(2, 3, height, width)
    out = translation(1, 1, width, height, sampling=sampling, infill="wrap").apply(x)
    assert torch.allclose(out, torch.roll(x, shifts=(1, 1), dims=(2, 3)), atol=1e-5)


@pytest.mark.parametrize(
    ("infill", "incoming"),
    [("black", 0.0), ("smear", "edge"), ("mirror", "mirror"), ("wrap", "wrap")],
)
def test_infill_modes_fill_the_uncovered_edge(infill, incoming):
    x = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 4, 8).contiguous()
    out = translation(2, 0, 8, 4, sampling="nearest", infill=infill).apply(x)[0, 0, 0]
    assert out[2:].tolist() == list(range(6))  # the content moved right by two pixels
    expected = {0.0: [0, 0], "edge": [0, 0], "mirror": [1, 0], "wrap": [6, 7]}[incoming]
    assert out[:2].tolist() == expected


def test_dense_displacement_is_resampled_to_other_resolutions():
    shift = torch.zeros(1, 6, 8, 2)
    shift[..., 0] = 0.25  # sample a quarter of the width to the right: content moves left
    warp = Warp(displacement=shift, sampling="bilinear", infill="smear")
    fine = warp.grid_at(12, 16, "cpu")
    assert torch.allclose(fine, identity_grid(12, 16, "cpu") + torch.tensor([0.25, 0.0]))
    x = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 12, 16)
    assert torch.allclose(warp.apply(x)[0, 0, 0, :4], torch.tensor([2.0, 3.0, 4.0, 5.0]))


def test_image_model_warps_its_pixels_and_adam_moments_together():
    model = UnlimitedPalette(8, 6, 2, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.decode().mean().backward()
    opt.step()
    model.update()
    before = model.pixels.detach().clone()
    moments = {k: v.clone() for k, v in opt.state[model.pixels].items()}
    assert model.warp(translation(1, 0, 8, 6, sampling="nearest", infill="wrap"), opt)
    rolled = lambda t: torch.roll(t, shifts=1, dims=3)  # noqa: E731
    assert torch.equal(model.pixels, rolled(before))
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(opt.state[model.pixels][key], rolled(moments[key]))
    assert opt.state[model.pixels]["step"] == moments["step"]


def test_bicubic_warp_keeps_second_moments_non_negative():
    model = UnlimitedPalette(8, 8, 1, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.pixels.grad = torch.randn_like(model.pixels)
    opt.step()
    c, s = math.cos(0.3), math.sin(0.3)
    rotate = Warp(affine=torch.tensor([[c, -s, 0.1], [s, c, 0.0]]), sampling="bicubic")
    model.warp(rotate, opt)
    assert (opt.state[model.pixels]["exp_avg_sq"] >= 0).all()
    assert model.pixels.min() >= 0 and model.pixels.max() <= 1


class Unwarpable(UnlimitedPalette):
    """An image model whose parameters are not laid out as an image (as VQGAN's codes may be)."""

    def spatial_parameters(self):
        return []


def test_a_model_that_cannot_warp_its_parameters_is_decoded_warped_and_encoded():
    model = Unwarpable(8, 6, 1, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.decode().mean().backward()
    opt.step()
    model.update()
    before = model.decode().detach()
    assert not model.warp(translation(2, 0, 8, 6, sampling="nearest", infill="wrap"), opt)
    assert torch.allclose(model.decode(), torch.roll(before, shifts=2, dims=3))
    assert opt.state[model.pixels] == {}  # moments no longer match the content: restarted


def test_the_animator_says_when_it_falls_back(tmp_path):
    from pytti_nb.animation.animator import CameraAnimator
    from pytti_nb.config.plan import plan_run
    from pytti_nb.config.settings import from_dict

    settings = {"scenes": "a", "perceptors": ["demo"], "width": 8, "height": 6, "pixel_size": 2}
    run_plan = plan_run(from_dict({**settings, "animation_mode": "2D", "translate_x": 1}))
    animator = CameraAnimator(run_plan, torch.device("cpu"))
    model = Unwarpable(8, 6, 2, generator=torch.Generator().manual_seed(2))
    for step in (0, 50):
        animator.begin_frame(model, None, run_plan.clock.at(step))
    assert len(animator.notes) == 1 and "decoded, warped and encoded again" in animator.notes[0]
