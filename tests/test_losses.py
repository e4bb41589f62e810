"""Behaviour of the loss functions."""

import math

import pytest
import torch

from pytti_nb.errors import PromptError
from pytti_nb.losses.functional import (
    hsv_mse,
    position_mask_weights,
    prompt_loss,
    replace_grad,
    semantic_mask_weights,
    spherical_dist,
    stopped,
    tv_loss,
)


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
        prompt_loss(emb, target, weight, stop).backward()
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
    prompt_loss(close, target, 1.0, 0.5).backward()
    assert torch.equal(close.grad, torch.zeros_like(close))


def test_negative_stop_ends_the_push():
    gen = torch.Generator().manual_seed(5)
    target = torch.randn(1, 16, generator=gen)
    far = (
        -target + 0.01 * torch.randn(1, 16, generator=gen)
    ).requires_grad_()  # dist ~ pi^2/2 > 0.95
    loss = prompt_loss(far, target, -1.0, -0.95)
    loss.backward()
    assert loss.item() < 0 and torch.equal(far.grad, torch.zeros_like(far))


def test_weight_zero_is_zero_without_nan_and_keeps_the_graph():
    emb = torch.randn(4, 8, requires_grad=True)
    loss = prompt_loss(emb, torch.randn(2, 8), 0.0, -math.inf)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(emb.grad, torch.zeros_like(emb))


def test_weight_scales_loss_and_cutout_weights_mask_cutouts():
    emb, target = torch.randn(4, 8), torch.randn(2, 8)
    base = prompt_loss(emb, target, 1.0, -math.inf)
    assert torch.isclose(prompt_loss(emb, target, 2.5, -math.inf), 2.5 * base)
    assert torch.isclose(prompt_loss(emb, target, -1.0, -math.inf), -base)
    keep = torch.tensor([1.0, 0.0, 1.0, 0.0])
    expected = spherical_dist(emb, target)[keep.bool()].sum() / 8
    assert torch.isclose(prompt_loss(emb, target, 1.0, -math.inf, keep), expected)


def test_stopped_on_scalar_losses():
    loss = torch.tensor(0.3, requires_grad=True)
    out = stopped(loss, 2.0, 0.5)  # below the stop: value kept, gradient zero
    out.backward()
    assert out.item() == pytest.approx(0.6) and loss.grad.item() == 0.0
    loss.grad = None
    stopped(loss, -2.0).backward()  # negative weight: gradient ascends
    assert loss.grad.item() == -2.0


def test_semantic_mask_gates_by_distance_to_mask_text():
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    # near, orthogonal, opposite
    cutouts = torch.tensor([[1.0, 0.05, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.1, 0.0]])
    hard = semantic_mask_weights(cutouts, mask, 0.5)  # threshold 0.85: orthogonal is ~1.23
    assert torch.equal(hard, torch.tensor([1.0, 0.0, 0.0]))
    # looser cutoff
    assert torch.equal(semantic_mask_weights(cutouts, mask, 2.0), torch.tensor([1.0, 1.0, 0.0]))
    soft = semantic_mask_weights(cutouts, mask, None)
    assert soft[0] > 0.99 and soft[2] < 0.01 and 0 < soft[1] < soft[0]


def test_semantic_mask_weights_carry_no_gradient():
    cutouts = torch.randn(3, 4, requires_grad=True)
    assert not semantic_mask_weights(cutouts, torch.randn(1, 4), None).requires_grad


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("a", [1, 1, 1, 1]),
        ("r", [0, 1, 0, 1]),
        ("l", [1, 0, 1, 0]),
        ("u", [1, 1, 0, 0]),
        ("d", [0, 0, 1, 1]),
        ("n", [1, 0, 0, 1]),
        ("f", [0, 1, 1, 0]),
    ],
)
def test_position_masks_select_cutouts(kind, expected):
    # x, y (y grows downward)
    centers = torch.tensor([[0.2, 0.1], [0.8, 0.2], [0.3, 0.9], [0.7, 0.6]])
    sizes = torch.tensor([0.9, 0.2, 0.3, 0.6])
    weights = position_mask_weights(centers, sizes, kind, 0.5)
    assert torch.equal(weights, torch.tensor(expected, dtype=torch.float32))


def test_position_mask_cutoff_moves_the_split():
    centers = torch.tensor([[0.2, 0.5], [0.4, 0.5], [0.8, 0.5]])
    weights = position_mask_weights(centers, torch.ones(3), "l", 0.3)
    assert torch.equal(weights, torch.tensor([1.0, 0.0, 0.0]))


def test_unknown_position_mask_raises_prompt_error():
    with pytest.raises(PromptError, match="mask 'q' is unknown"):
        position_mask_weights(torch.zeros(1, 2), torch.ones(1), "q", 0.5)


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
