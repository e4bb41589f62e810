"""Behaviour of the loss functions."""

import math

import pytest
import torch

from pytti_nb.lang.prompts import LETTER_MASKS, MaskKind, parse_prompt
from pytti_nb.losses.functional import (
    hsv_mse,
    position_mask_stops,
    prompt_loss,
    replace_grad,
    semantic_mask_stops,
    spherical_dist,
    stopped,
    tv_loss,
)

pytestmark = pytest.mark.numerics


def pl(emb, target, weight, stop=-math.inf, mask_stops=None, mask_weights=None):
    """prompt_loss of embeddings against targets (all pairs)."""
    return prompt_loss(spherical_dist(emb, target), weight, stop, mask_stops, mask_weights)


def test_spherical_dist_properties():
    a = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    b = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    assert spherical_dist(a, b).shape == (5, 3)
    assert torch.allclose(spherical_dist(a, b), spherical_dist(b, a).T)
    # scale-free
    assert torch.allclose(spherical_dist(a, 3 * a).diagonal(), torch.zeros(5), atol=1e-6)
    opposite = spherical_dist(a, -a).diagonal()
    assert torch.allclose(opposite, torch.full((5,), math.pi**2 / 2))  # the maximum
    assert (spherical_dist(a, b) < math.pi**2 / 2).all()
    # Orthogonal unit vectors: angle pi/2, and the distance is angle^2 / 2.
    assert torch.isclose(
        spherical_dist(torch.eye(2)[:1], torch.eye(2)[1:]), torch.tensor(math.pi**2 / 8)
    )


def test_spherical_dist_gradient_is_finite_at_extremes():
    a = torch.randn(2, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    (spherical_dist(a, a.detach()).sum() + spherical_dist(a, -a.detach()).sum()).backward()
    assert torch.isfinite(a.grad).all()


def test_replace_grad_value_of_fake_gradient_of_real():
    real = torch.tensor([1.0, 2.0], requires_grad=True)
    out = replace_grad(torch.tensor([5.0, 6.0]), real * 3)
    assert torch.equal(out, torch.tensor([5.0, 6.0]))
    out.sum().backward()
    assert torch.equal(real.grad, torch.tensor([3.0, 3.0]))


def _descend(weight, stop=-math.inf, steps=40):
    """Distance to a target before and after SGD on a free embedding under prompt_loss."""
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(1, 16, generator=gen)
    emb = torch.randn(1, 16, generator=gen).requires_grad_()
    before = spherical_dist(emb, target).item()
    opt = torch.optim.SGD([emb], lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        pl(emb, target, weight, stop).backward()
        opt.step()
    return before, spherical_dist(emb, target).item(), emb


def test_positive_weight_pulls_toward_the_target():
    before, after, _ = _descend(1.0)
    assert after < 0.5 * before


def test_negative_weight_pushes_away():
    before, after, _ = _descend(-1.0)
    assert after > before + 0.5


def test_stop_freezes_the_pull_once_below_it():
    before, after, _ = _descend(1.0, stop=0.8 * _descend(1.0, steps=0)[0])
    assert 0.7 * before < after < 0.8 * before  # moved until just under the stop, then no further
    gen = torch.Generator().manual_seed(5)
    target = torch.randn(1, 16, generator=gen)
    close = (target + 0.01 * torch.randn(1, 16, generator=gen)).requires_grad_()
    pl(close, target, 1.0, 0.5).backward()
    assert torch.equal(close.grad, torch.zeros_like(close))


def test_negative_stop_ends_the_push():
    gen = torch.Generator().manual_seed(5)
    target = torch.randn(1, 16, generator=gen)
    far = (
        -target + 0.01 * torch.randn(1, 16, generator=gen)
    ).requires_grad_()  # dist ~ pi^2/2 > 0.95
    loss = pl(far, target, -1.0, -0.95)
    loss.backward()
    assert loss.item() < 0 and torch.equal(far.grad, torch.zeros_like(far))


def test_weight_zero_is_zero_without_nan_and_keeps_the_graph():
    emb = torch.randn(4, 8, requires_grad=True)
    loss = pl(emb, torch.randn(2, 8), 0.0)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(emb.grad, torch.zeros_like(emb))


def test_weight_scales_loss_and_mask_weights_weigh_cutouts():
    emb, target = torch.randn(4, 8), torch.randn(2, 8)
    base = pl(emb, target, 1.0)
    assert torch.isclose(pl(emb, target, 2.5), 2.5 * base)
    assert torch.isclose(pl(emb, target, -1.0), -base)
    keep = torch.tensor([1.0, 0.0, 1.0, 0.0])
    expected = spherical_dist(emb, target)[keep.bool()].sum() / 8
    assert torch.isclose(pl(emb, target, 1.0, mask_weights=keep), expected)


def pytti_prompt_forward(dists_raw, weight, stop, mask_stops, mask_weights):
    """PyTTI's Prompt.forward (pytti-core Perceptor/Prompt.py), line for line, as the oracle."""
    weight = torch.as_tensor(mask_weights) * torch.as_tensor(weight)
    sign_offset = weight.sign().clamp(max=0)
    dists = dists_raw * weight.sign()
    stops = torch.maximum(mask_stops + sign_offset, torch.as_tensor(stop))
    dists = weight.abs() * replace_grad(dists, torch.maximum(dists, stops))
    return dists.mean()


@pytest.mark.parametrize("weight", [2.0, -1.5])
@pytest.mark.parametrize("stop", [-math.inf, 0.9, -0.95])
@pytest.mark.parametrize("mask", ["all", "letter", "semantic", "image"])
def test_prompt_loss_matches_pyttis_value_and_gradient(weight, stop, mask):
    gen = torch.Generator().manual_seed(3)
    emb = torch.randn(6, 8, generator=gen)
    target, mask_text = torch.randn(1, 8, generator=gen), torch.randn(1, 8, generator=gen)
    stops = weights = None
    if mask == "letter":
        stops = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    elif mask == "semantic":
        stops = semantic_mask_stops(emb, mask_text, None)
    elif mask == "image":
        weights = torch.rand(6, generator=gen)
    grads = []
    for loss_fn in ("ours", "pytti"):
        x = emb.clone().requires_grad_()
        dist = spherical_dist(x, target)
        if loss_fn == "ours":
            loss = prompt_loss(dist, weight, stop, stops, weights)
        else:
            mask_stops = torch.full((6, 1), -math.inf) if stops is None else stops[:, None]
            mask_weights = 1 if weights is None else weights[:, None]
            loss = pytti_prompt_forward(dist, weight, stop, mask_stops, mask_weights)
        loss.backward()
        grads.append((loss.detach(), x.grad))
    (ours, our_grad), (theirs, their_grad) = grads
    assert torch.allclose(ours, theirs) and torch.allclose(our_grad, their_grad)


def test_masked_out_cutouts_count_in_the_value_but_do_not_pull():
    emb = torch.randn(2, 8, requires_grad=True)
    target = torch.randn(1, 8)
    stops = torch.tensor([1e9, 0.0])  # cutout 0 is outside the mask: a stop it never reaches
    loss = pl(emb, target, 1.0, mask_stops=stops)
    assert torch.isclose(loss, spherical_dist(emb, target).mean())  # both in the value
    loss.backward()
    assert torch.equal(emb.grad[0], torch.zeros(8)) and emb.grad[1].abs().sum() > 0


def test_stopped_on_scalar_losses():
    loss = torch.tensor(0.3, requires_grad=True)
    out = stopped(loss, 2.0, 0.5)  # below the stop: value kept, gradient zero
    out.backward()
    assert out.item() == pytest.approx(0.6) and loss.grad.item() == 0.0
    loss.grad = None
    stopped(loss, -2.0).backward()  # negative weight: gradient ascends
    assert loss.grad.item() == -2.0


def test_semantic_mask_stops_by_distance_to_mask_text():
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    # near, orthogonal, opposite
    cutouts = torch.tensor([[1.0, 0.05, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.1, 0.0]])
    hard = semantic_mask_stops(cutouts, mask, 0.5)  # threshold 0.85: orthogonal is ~1.23
    assert torch.equal(hard, torch.tensor([0.0, 1.0, 1.0]))  # 1: outside the mask
    # looser cutoff
    assert torch.equal(semantic_mask_stops(cutouts, mask, 2.0), torch.tensor([0.0, 0.0, 1.0]))
    soft = semantic_mask_stops(cutouts, mask, None)  # no cutoff: the distance is the stop
    assert torch.allclose(soft, spherical_dist(cutouts, mask)[:, 0])


def test_semantic_mask_stops_carry_no_gradient():
    cutouts = torch.randn(3, 4, requires_grad=True)
    assert not semantic_mask_stops(cutouts, torch.randn(1, 4), None).requires_grad


@pytest.mark.parametrize(
    "kind, inside",
    [
        ("r", [0, 1, 0, 1]),
        ("l", [1, 0, 1, 0]),
        ("u", [1, 1, 0, 0]),
        ("d", [0, 0, 1, 1]),
        ("n", [1, 0, 0, 1]),
        ("f", [0, 1, 1, 0]),
    ],
)
def test_position_masks_stop_the_cutouts_outside(kind, inside):
    # x, y (y grows downward)
    centers = torch.tensor([[0.2, 0.1], [0.8, 0.2], [0.3, 0.9], [0.7, 0.6]])
    sizes = torch.tensor([0.9, 0.2, 0.3, 0.6])
    stops = position_mask_stops(centers, sizes, LETTER_MASKS[kind], 0.5)
    assert torch.equal(stops, 1 - torch.tensor(inside, dtype=torch.float32))


def test_position_mask_cutoff_moves_the_split_and_ties_stay_inside_as_in_pytti():
    centers = torch.tensor([[0.2, 0.5], [0.4, 0.5], [0.8, 0.5], [0.3, 0.5]])
    stops = position_mask_stops(centers, torch.ones(4), MaskKind.LEFT, 0.3)
    assert torch.equal(stops, torch.tensor([0.0, 1.0, 1.0, 0.0]))  # PyTTI: cent.gt(0.3) stops


def test_every_letter_is_a_position_kind_that_gates_one_measure_and_other_text_is_semantic():
    kinds = [LETTER_MASKS[letter] for letter in "rludnf"]
    assert sorted(kind.gate for kind in kinds) == [(m, a) for m in (0, 1, 2) for a in (False, True)]
    assert parse_prompt("a cat:1_q").mask.kind is MaskKind.SEMANTIC
    assert parse_prompt("a cat:1_[m.png]").mask.kind.is_file


def test_tv_loss_zero_when_flat_and_grows_with_noise():
    gen = torch.Generator().manual_seed(0)
    flat = torch.full((1, 3, 8, 8), 0.4)
    noise = torch.randn(1, 3, 8, 8, generator=gen)
    assert tv_loss(flat).item() == 0.0
    assert 0 < tv_loss(flat + 0.01 * noise) < tv_loss(flat + 0.1 * noise)
    stripes = torch.arange(8.0).remainder(2).expand(1, 3, 8, 8)  # columns alternate 0/1
    assert tv_loss(stripes).item() == pytest.approx(7 / 8)  # 7 of 8 columns differ from the next


def test_hsv_mse_zero_for_equal_and_sees_saturation():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 4, 4, generator=gen, requires_grad=True)
    assert hsv_mse(a, a.detach()).item() == 0.0
    grey = torch.full((1, 3, 1, 1), 0.5)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    rgb_only = ((grey - red) ** 2).sum() / 5
    assert hsv_mse(grey, red) > rgb_only  # saturation and value channels add to plain RGB error
    hsv_mse(a, torch.rand(1, 3, 4, 4, generator=gen)).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
