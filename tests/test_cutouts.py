"""Behaviour of the vectorised cutout sampler."""

import math

import pytest
import torch

from pytti_nb.errors import SettingsError
from pytti_nb.perception.cutouts import (
    BORDER_MODES,
    CutoutAugs,
    crop_with_thetas,
    make_cutouts,
    mask_weights,
)

NO_AUGS = CutoutAugs(flip=0.0, rotate=0.0, translate=0.0, scale=0.0, noise=0.0, color_jitter=0.0)


def _cut(image, n=16, size=8, seed=0, cut_pow=1.0, border=0.25, border_mode="clamp", augs=NO_AUGS):
    """make_cutouts with test defaults and a freshly seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return make_cutouts(
        image,
        n,
        size,
        cut_pow=cut_pow,
        border=border,
        border_mode=border_mode,
        augs=augs,
        generator=gen,
    )


def _corners(thetas):
    """Normalised image coords [n,4,2] of each crop's four output corners."""
    corners = torch.tensor([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    return torch.einsum("nij,cj->nci", thetas, corners)


def test_shapes_ranges_and_geometry_fields():
    image = torch.rand(1, 3, 24, 40)
    cut = _cut(image, n=12, size=8)
    assert cut.images.shape == (12, 3, 8, 8)
    assert (
        cut.centers.shape == (12, 2) and cut.sizes.shape == (12,) and cut.thetas.shape == (12, 2, 3)
    )
    # no noise/jitter: convex resampling only
    assert cut.images.min() >= 0 and cut.images.max() <= 1
    assert (cut.centers >= 0).all() and (cut.centers <= 1).all()  # clamp mode keeps centres inside
    assert (cut.sizes > 0).all() and (cut.sizes <= 1).all()


def test_same_seed_same_cutouts_and_other_seed_differs():
    image = torch.rand(1, 3, 32, 32)
    a, b = _cut(image, seed=3, augs=CutoutAugs()), _cut(image, seed=3, augs=CutoutAugs())
    c = _cut(image, seed=4, augs=CutoutAugs())
    assert torch.equal(a.images, b.images) and torch.equal(a.thetas, b.thetas)
    assert not torch.equal(a.images, c.images)


def test_global_rng_is_not_used():
    image = torch.rand(1, 3, 32, 32)
    torch.manual_seed(1)
    a = _cut(image, augs=CutoutAugs())
    torch.manual_seed(2)
    b = _cut(image, augs=CutoutAugs())
    assert torch.equal(a.images, b.images)


def test_cut_pow_makes_crops_smaller():
    image = torch.rand(1, 3, 64, 64)
    means = [_cut(image, n=256, size=4, cut_pow=p).sizes.mean() for p in (0.5, 1.0, 2.0, 3.0)]
    assert means[0] > means[1] > means[2] > means[3]


def test_crop_side_follows_pytti_formula_bounds():
    image = torch.rand(1, 3, 40, 80)  # max side 80, min_frac = 8/80
    sizes = _cut(image, n=256, size=8, cut_pow=2.0, border_mode="black").sizes
    assert sizes.min() >= 0.1**2 - 1e-6 and sizes.max() <= 1 + 1e-6


def test_crops_are_square_in_pixels_on_wide_images():
    height, width = 16, 48
    thetas = _cut(torch.rand(1, 3, height, width), border_mode="black").thetas
    assert torch.allclose(thetas[:, 0, 0].abs() * width, thetas[:, 1, 1].abs() * height)


@pytest.mark.parametrize(
    "mode, index",
    [
        ("black", [2, 3, None, None]),
        ("smear", [2, 3, 3, 3]),
        ("mirror", [2, 3, 3, 2]),
        ("wrap", [2, 3, 0, 1]),
    ],
)
def test_border_modes_fill_over_edge_pixels_differently(mode, index):
    # value = 10*row + col
    pattern = torch.arange(4.0).view(1, 4) + 10 * torch.arange(4.0).view(4, 1)
    image = pattern.expand(1, 3, 4, 4)
    # A 4-pixel crop centred on the bottom-right corner: source rows/cols 2,3 inside, 4,5 outside.
    theta = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]])
    crop = crop_with_thetas(image, theta, 4, mode)[0]
    expected = torch.tensor(
        [[0.0 if r is None or c is None else 10.0 * r + c for c in index] for r in index]
    ).expand(3, 4, 4)
    assert torch.allclose(crop, expected, atol=1e-5)


def test_clamp_never_leaves_the_image_even_with_rotation_and_jitter():
    augs = CutoutAugs(rotate=30.0, translate=0.2, scale=0.2)
    for height, width in ((32, 32), (20, 50)):
        cut = _cut(torch.rand(1, 3, height, width), n=128, size=4, border=0.5, augs=augs)
        assert (_corners(cut.thetas).abs() <= 1 + 1e-5).all()


def test_black_border_crops_do_leave_the_image():
    cut = _cut(torch.rand(1, 3, 32, 32), n=128, size=4, border=0.5, border_mode="black")
    assert (_corners(cut.thetas).abs() > 1.01).any()


def test_one_and_many_cutouts_are_independent():
    image = torch.rand(1, 3, 32, 32)
    assert _cut(image, n=1).images.shape == (1, 3, 8, 8)
    many = _cut(image, n=64, augs=CutoutAugs())
    assert many.images.shape == (64, 3, 8, 8)
    assert many.centers.std(dim=0).min() > 0.05 and many.sizes.std() > 0.01
    flat = many.images.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(64)).min() > 0  # no two crops are identical


def test_flip_mirrors_the_crop():
    image = torch.rand(1, 3, 32, 32)
    plain = _cut(image)
    flipped = _cut(
        image,
        augs=CutoutAugs(
            flip=1.0, rotate=0.0, translate=0.0, scale=0.0, noise=0.0, color_jitter=0.0
        ),
    )
    assert torch.allclose(plain.images.flip(-1), flipped.images, atol=1e-5)


def test_noise_and_color_jitter_perturb_lightly():
    image = torch.rand(1, 3, 32, 32)
    plain = _cut(image).images
    noisy = _cut(
        image,
        augs=CutoutAugs(
            flip=0.0, rotate=0.0, translate=0.0, scale=0.0, noise=0.1, color_jitter=0.0
        ),
    )
    jittered = _cut(
        image, augs=CutoutAugs(flip=0.0, rotate=0.0, translate=0.0, scale=0.0, noise=0.0)
    )
    noise = noisy.images - plain
    assert 0 < noise.std() < 0.1
    per_cutout = noise.flatten(1).std(dim=1)
    assert per_cutout.max() > 2 * per_cutout.min()  # std drawn per cutout, not shared
    shift = (jittered.images - plain).abs()
    assert 0 < shift.max() < 0.1


def test_color_jitter_keeps_grey_grey():
    grey = torch.full((1, 3, 16, 16), 0.5)
    augs = CutoutAugs(flip=0.0, rotate=0.0, translate=0.0, scale=0.0, noise=0.0, color_jitter=0.05)
    images = _cut(grey, augs=augs).images
    assert torch.allclose(images[:, 0], images[:, 1], atol=1e-5) and torch.allclose(
        images[:, 1], images[:, 2], atol=1e-5
    )
    assert not torch.allclose(images, grey[:, :, :8, :8].expand_as(images))  # brightness did move


def test_gradient_reaches_the_image():
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    _cut(image, augs=CutoutAugs()).images.square().sum().backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_large_crops_are_antialiased():
    checker = (
        torch.arange(64).view(1, 64) + torch.arange(64).view(64, 1)
    ) % 2  # 1-pixel checkerboard
    image = checker.float().expand(1, 3, 64, 64)
    # Whole image into 8x8 (8x down), shifted half a pixel so bilinear taps hit pixel centres.
    theta = torch.tensor([[[1.0, 0.0, 1 / 64], [0.0, 1.0, 1 / 64]]])
    crop = crop_with_thetas(image, theta, 8)
    # plain bilinear would alias to 0/1
    assert torch.allclose(crop, torch.full_like(crop, 0.5), atol=0.05)


def test_mask_weights_follow_the_mask():
    image = torch.rand(1, 3, 64, 64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :32] = 1  # left half
    cut = _cut(image, n=128, size=8, cut_pow=3.0, border=0.0)
    weights = mask_weights(mask, cut)
    left = cut.centers[:, 0] + cut.sizes / 2 < 0.45
    right = cut.centers[:, 0] - cut.sizes / 2 > 0.55
    assert left.sum() > 3 and right.sum() > 3
    assert (weights[left] > 0.95).all() and (weights[right] < 0.05).all()


def test_bad_settings_raise_settings_error():
    with pytest.raises(SettingsError, match="border_mode 'tile'"):
        _cut(torch.rand(1, 3, 8, 8), border_mode="tile")
    with pytest.raises(SettingsError, match="cutouts is 0"):
        _cut(torch.rand(1, 3, 8, 8), n=0)


def test_border_modes_give_different_cutouts_for_the_same_draws():
    image = torch.rand(1, 3, 20, 30)
    images = {mode: _cut(image, n=32, border=0.5, border_mode=mode).images for mode in BORDER_MODES}
    for i, a in enumerate(BORDER_MODES):
        for b in BORDER_MODES[i + 1 :]:
            assert not torch.allclose(images[a], images[b]), (a, b)


def test_crop_sides_follow_pyttis_formula_from_the_short_side():
    # PyTTI: side = short * clip(N(0.8, 0.3), 224 / short, 1) ** cut_pow; at 720x448, cut_pow 2,
    # its mean crop is 286 px (ours used the long side before: 351 px)
    image = torch.zeros(1, 3, 448, 720)
    gen = torch.Generator().manual_seed(0)
    cuts = make_cutouts(
        image, 4000, 8, cut_pow=2.0, border=0.0, border_mode="clamp",
        augs=CutoutAugs(noise=0.0), generator=gen,
    )  # fmt: skip
    sides = cuts.sizes * 720  # sizes are over the long side, as PyTTI's near/far masks read them
    draws = torch.randn(200_000, generator=torch.Generator().manual_seed(1))
    expected = (448 * (0.8 + 0.3 * draws).clamp(8 / 448, 1.0) ** 2).mean()
    assert abs(sides.mean() - expected) < 3 and sides.max() <= 448.01


def pytti_cutouts(image, n=2000, seed=0):
    """n cutouts of `image` through PyTTI's augmentation chain."""
    return make_cutouts(
        image, n, 16, cut_pow=1.0, border=0.0, border_mode="clamp",
        augs=CutoutAugs(noise=0.0, chain="pytti"), generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip


def test_the_pytti_chain_erases_a_box_in_seven_crops_of_ten():
    crops = pytti_cutouts(torch.ones(1, 3, 64, 64)).images
    erased = (crops.amin(dim=(1, 2, 3)) < 0.01).float().mean()
    assert abs(erased - 0.7) < 0.04, erased
    black = (crops < 0.01).all(dim=1).float().mean(dim=(1, 2))  # share of each crop erased
    boxes = black[black > 0]
    # 10-40% of the area, to the 16-px grid
    assert 0.05 < boxes.min() and boxes.max() <= 0.45 and abs(boxes.mean() - 0.25) < 0.04


def test_the_pytti_chain_mirrors_three_crops_of_ten_and_turns_them_up_to_30_degrees():
    ramp = torch.linspace(0.2, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64).contiguous()
    crops = pytti_cutouts(ramp).images[:, 0]
    slope = (crops[:, :, -4:] - crops[:, :, :4]).mean(dim=(1, 2))  # right minus left
    assert abs((slope < 0).float().mean() - 0.3) < 0.04  # mirrored crops run right to left
    whole = crops.amin(dim=(1, 2)) > 0.1  # crops with nothing erased
    vertical = (crops[:, -4:, :] - crops[:, :4, :]).mean(dim=(1, 2)).abs()
    turned = (vertical / slope.abs().clamp_min(1e-6))[whole]  # tan of each crop's turn
    assert (turned > math.tan(math.radians(10))).float().mean() > 0.3  # many are turned
    assert turned.quantile(0.95) < math.tan(math.radians(45))  # by 30 degrees and perspective


def test_the_pytti_chain_keeps_gradients_and_one_sample_for_all_crops():
    image = torch.rand(1, 3, 40, 56, requires_grad=True)
    cuts = pytti_cutouts(image, n=8)
    cuts.images.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    again = pytti_cutouts(image, n=8)
    assert torch.equal(cuts.images, again.images)  # seeded: reproducible
