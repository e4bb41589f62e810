"""The Pyramid image (a sum of resolutions) and the das augmentations (Direct Ascent Synthesis)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pytti_nb.animation.warp import Warp
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine import step
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.errors import SettingsError
from pytti_nb.image_models import PyramidImage
from pytti_nb.models import ModelCache
from pytti_nb.perception.cutouts import CutoutAugs, make_cutouts

# the colours a pixel is counted as (nearest); grey is where free pixels stay
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5]])
RED, GREY = 0, 5


@pytest.fixture(scope="module")
def perceptors():
    return ModelCache()


def _model(width=12, height=10, pixel_size=1, **kw):
    gen = torch.Generator().manual_seed(0)
    return PyramidImage(width, height, pixel_size, generator=gen, device="cpu", **kw)


def shares(image: np.ndarray) -> np.ndarray:
    """The share of the pixels (HxWx3 in [0,1]) nearest each of COLOURS."""
    nearest = ((image[..., None, :] - COLOURS) ** 2).sum(-1).argmin(-1)
    return np.bincount(nearest.ravel(), minlength=len(COLOURS)) / nearest.size


def test_levels_run_from_the_full_size_to_1x1_in_powers_of_two():
    model = _model(12, 10)
    assert [tuple(p.shape[-2:]) for p in model.levels] == [
        (10, 12), (5, 6), (3, 3), (2, 2), (1, 1)
    ]  # fmt: skip
    with torch.no_grad():  # the 1x1 level moves the whole picture at once, before the squash
        before = model.raw()
        model.levels[-1][0, 0] += 1.0
        change = (model.raw() - before)[0, 0]
    assert torch.allclose(change, torch.ones_like(change), atol=1e-5)


def test_encoding_is_exact_and_decoding_upsamples_by_pixel_size():
    model = _model(12, 10, pixel_size=2)
    image = torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(1))
    image[..., 0, 0] = 0.0  # the extremes too
    image[..., 0, 1] = 1.0
    model.encode(image)
    out = model.decode()
    assert out.shape == (1, 3, 20, 24)
    assert (out[..., ::2, ::2] - image).abs().max() < 2e-3
    assert torch.equal((out[..., ::2, ::2] * 255).round(), (image * 255).round())


def test_a_warp_moves_every_level_and_black_infill_is_black():
    model = _model(16, 16)
    with torch.no_grad():
        for level in model.levels:
            level.normal_(generator=torch.Generator().manual_seed(2))
    before = model.decode()
    shift = Warp(
        sampling="bilinear", infill="black", affine=torch.tensor([[1, 0, -0.5], [0, 1, 0]])
    )
    assert model.warp(shift)  # in place, with the moments
    after = model.decode()
    assert after[..., :, :4].max() < 0.01  # the uncovered quarter: black, not grey
    # the rest is the old picture moved right by 4 pixels (up to the coarse levels' resampling)
    assert (after[..., 4:, 8:] - before[..., 4:, 4:12]).abs().mean() < 0.05


def test_a_seamless_pyramid_tiles():
    model = _model(16, 12, seamless=True)
    with torch.no_grad():
        for level in model.levels:
            level.normal_(generator=torch.Generator().manual_seed(3))
    image = model.decode()[0]
    across = (image[..., 0] - image[..., -1]).abs().mean()  # the seams' neighbour differences
    inside = (image[..., 1:] - image[..., :-1]).abs().mean()
    assert across < 1.5 * inside
    plain = _model(16, 12)
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(plain.decode(), model.decode())  # seamless does change the sum


def render(perceptors, tmp_path, **changes) -> np.ndarray:
    """The last image (HxWx3 in [0,1]) of a small demo render, gentle and unsmoothed."""
    settings = {
        "scenes": "a red circle on a black background",
        "perceptors": ["demo"],
        "width": 16,
        "height": 16,
        "pixel_size": 1,
        "cutouts": 4,
        "steps_per_scene": 20,
        "smoothing_weight": 0,
        "augmentations": "gentle",
        "seed": 3,
        "save_every": 0,
        "display_every": 20,
        "device": "cpu",
        "output_root": str(tmp_path),
        **changes,
    }
    session = Session(plan_run(from_dict(settings)), perceptors)
    return list(snapshots(session))[-1].image.astype(np.float32) / 255


def test_the_pyramid_paints_the_prompt_where_free_pixels_stay_noise(perceptors, tmp_path):
    # each at its own default learning rate. Over seeds 3 to 5 at 20 steps: the Pyramid's red
    # share 0.22 to 0.39 (grey 0.10 to 0.30), the RGB image's 0.07 to 0.11 (grey 0.49 to 0.59,
    # about its random start's); at 30 steps 0.25 to 0.39 against 0.07 to 0.13
    pyramid = shares(render(perceptors, tmp_path, image_model="Pyramid"))
    rgb = shares(render(perceptors, tmp_path, image_model="Unlimited Palette"))
    print(f"red: Pyramid {pyramid[RED]:.2f}, RGB {rgb[RED]:.2f}; RGB grey {rgb[GREY]:.2f}")
    assert pyramid[RED] >= 2 * rgb[RED]
    assert pyramid[GREY] < rgb[GREY]


def test_das_shifts_the_whole_image_wrapping_and_adds_noise_and_colour():
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    # whole-image crops at the image's own size: every crop is the image rolled (cut_pow 0)
    args = dict(cut_pow=0.0, border=0.0, border_mode="clamp")
    plain = CutoutAugs(chain="das")
    cuts = make_cutouts(
        image, 6, 16, augs=plain, generator=torch.Generator().manual_seed(5), **args
    )
    assert cuts.border_mode == "wrap"
    shifts = cuts.thetas[:, :, 2] * 8  # in pixels: each crop its own, up to 1/12 of 16
    assert shifts.abs().max() <= 16 / 12 and len({round(float(x), 3) for x in shifts[:, 0]}) == 6
    for crop, theta in zip(cuts.images, cuts.thetas, strict=True):
        # the whole picture moved, what leaves one side coming back on the other
        moved = Warp(sampling="bilinear", infill="wrap", affine=theta).apply(image)[0]
        assert (crop - moved).abs().max() < 1e-4
        assert crop.sum().sub(image.sum()).abs() < 0.02 * image.sum()  # nothing lost or added
    noisy = CutoutAugs(chain="das", das_noise=0.2, das_color=0.3)
    gen = torch.Generator().manual_seed(5)
    both = make_cutouts(image, 6, 16, augs=noisy, generator=gen, **args).images
    change = both - cuts.images
    # per channel: a scale and offset (the mean moves), and noise of std 0.2 on top
    means = change.mean(dim=(2, 3))
    assert means.std() > 0.05
    assert 0.15 < (change - means[..., None, None]).std() < 0.3


def test_das_strengths_follow_their_schedules_and_decay_over_each_scene(tmp_path):
    settings = {
        "scenes": "red || blue",
        "perceptors": ["demo"],
        "width": 8,
        "height": 8,
        "steps_per_scene": 10,
        "augmentations": "das",
        "das_noise": "0.2",
        "das_color": "0:(0.1), 100:(0.1)",
        "das_decay": 0.5,
        "device": "cpu",
        "output_root": str(tmp_path),
        "seed": 1,
    }

    def at(step_index, **changes):
        """The das strengths a session of these settings uses at a step."""
        plan = plan_run(from_dict({**settings, **changes}), check_models=False)
        session = SimpleNamespace(
            run_plan=plan, settings=plan.settings, augs=CutoutAugs.of(plan.settings)
        )
        return step.das_augs(session, plan.clock.at(step_index))

    assert (at(0).das_noise, at(0).das_color) == pytest.approx((0.2, 0.1))
    assert at(5).das_noise == pytest.approx(0.15)  # half the scene: a quarter gone
    assert at(10).das_noise == pytest.approx(0.2)  # the next scene starts afresh
    assert at(9, das_decay=0.0).das_noise == pytest.approx(0.2)
    assert at(5, das_noise="0.2 + t", das_decay=0.0).das_noise > 0.2  # an expression of t


def test_bad_das_settings_are_refused_by_name():
    base = {"perceptors": ["demo"], "device": "cpu", "augmentations": "das"}
    for name, value in [("das_noise", "sin("), ("das_decay", 2.0), ("augmentations", "dass")]:
        with pytest.raises(SettingsError) as error:
            plan_run(from_dict({**base, name: value}), check_models=False)
        assert any(p.startswith(name) and repr(value) in p for p in error.value.problems), (
            error.value.problems
        )
