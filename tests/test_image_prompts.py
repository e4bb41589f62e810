"""Images seen as PyTTI saw them: every cutout compared with the image's cutout at the same
place (a Hungarian assignment of centres) plus 0.7, or, as an option, one mean embedding."""

import pytest
import torch

from pytti_nb.config.settings import from_dict
from pytti_nb.lang.prompts import ALL, DEFAULT_STOP, Mask
from pytti_nb.lang.schedules import Constant
from pytti_nb.losses import functional as losses
from pytti_nb.models import ModelCache
from pytti_nb.perception.cutouts import Cutouts
from pytti_nb.perception.targets import (
    LOCATION_OFFSET,
    ImageEmbedder,
    Target,
    _set_mask_image,
    guidance_loss,
    match_locations,
)

pytestmark = pytest.mark.numerics


def test_matching_is_the_least_total_distance_not_each_nearest():
    # greedy nearest would send both cutouts to reference 0; the assignment pairs them 0-0, 1-1
    centres = torch.tensor([[0.0, 0.0], [0.4, 0.0]])
    references = torch.tensor([[0.3, 0.0], [1.0, 0.0]])
    assert match_locations(centres, references).tolist() == [0, 1]
    # and follows the references wherever they are listed
    assert match_locations(centres, references.flip(0)).tolist() == [1, 0]


def test_more_cutouts_than_references_all_get_one():
    centres = torch.tensor([[0.1, 0.1], [0.9, 0.9], [0.12, 0.1]])
    index = match_locations(centres, torch.tensor([[0.1, 0.1], [0.9, 0.9]]))
    assert index.tolist()[:2] == [0, 1] and index[2] == 0


@pytest.fixture(scope="module")
def demo():
    return ModelCache().perceptor("demo")


def settings(**changes):
    base = {"perceptors": ["demo"], "cutouts": 8, "seed": 5, "cut_pow": 1.0, "cutout_noise": 0}
    return from_dict({**base, **changes})


def test_an_image_is_seen_as_its_cutouts_and_their_centres(demo):
    image = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    embeds, centres = ImageEmbedder.of(settings())(demo, image)
    assert embeds.shape == (8, demo.embed_dim) and centres.shape == (8, 2)
    assert (centres >= 0).all() and (centres <= 1).all()
    again, _ = ImageEmbedder.of(settings())(demo, image)
    assert torch.equal(embeds, again)  # seeded: the same view every time
    mean, none = ImageEmbedder.of(settings(image_prompt_matching="mean"))(demo, image)
    assert mean.shape == (1, demo.embed_dim) and none is None
    assert torch.isclose(mean.norm(), torch.tensor(1.0))


class _Ctx:
    """A step context whose time values are constants."""

    def value(self, v):
        return v(0.0)


def image_target(demo, image, weight, stop, matching="location", mask=ALL):
    target = Target("[x.png]", Constant(weight, str(weight)), stop, mask, embeds={})
    target.see({demo: ImageEmbedder.of(settings(image_prompt_matching=matching))(demo, image)})
    return target


def own_cutouts(demo, image):
    """The image's own cutouts (the embedder's), as a step would cut them."""
    s = settings()
    from pytti_nb.perception.cutouts import CutoutAugs, make_cutouts

    gen = torch.Generator().manual_seed(s.seed)
    return make_cutouts(
        image, 8, demo.input_size, cut_pow=1.0, border=s.cutout_border,
        border_mode=s.border_mode, augs=CutoutAugs.of(s), generator=gen,
    )  # fmt: skip


def test_the_same_cutouts_sit_at_pyttis_offset_and_a_stop_below_it_ends_the_pull(demo):
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    cuts = own_cutouts(demo, image)
    emb = demo.encode_image(cuts.images).detach().requires_grad_()
    target = image_target(demo, image, 1.0, DEFAULT_STOP)
    loss = guidance_loss([target], demo, emb, cuts, _Ctx())
    assert loss.item() == pytest.approx(LOCATION_OFFSET, abs=1e-4)  # distance 0, plus 0.7
    # PyTTI's [sig.png]:-1:-.95 stops pushing once the matched distance passes 0.25
    push = image_target(demo, image, -1.0, Constant(-0.95, "-.95"))
    noise = torch.randn(emb.shape, generator=torch.Generator().manual_seed(2))
    near = (emb.detach() + 0.02 * noise * emb.detach().norm(dim=1, keepdim=True)).requires_grad_()
    guidance_loss([push], demo, near, cuts, _Ctx()).backward()
    assert near.grad.abs().sum() > 0  # close to the references (-0.7 - d > -0.95): pushed
    far = (-emb.detach()).requires_grad_()  # far beyond 0.25 from every reference cutout
    guidance_loss([push], demo, far, cuts, _Ctx()).backward()
    assert torch.equal(far.grad, torch.zeros_like(far))


def test_mean_matching_has_no_offset(demo):
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    cuts = own_cutouts(demo, image)
    emb = demo.encode_image(cuts.images)
    target = image_target(demo, image, 1.0, DEFAULT_STOP, matching="mean")
    expected = losses.spherical_dist(emb, target.embeds[demo]).mean()
    assert torch.isclose(guidance_loss([target], demo, emb, cuts, _Ctx()), expected)


def test_an_almost_empty_image_mask_turns_its_prompt_off(demo):
    emb = torch.randn(4, demo.embed_dim, requires_grad=True)
    cuts = Cutouts(
        images=torch.zeros(4, 3, 8, 8),
        centers=torch.rand(4, 2),
        sizes=torch.full((4,), 0.5),
        thetas=torch.eye(2, 3).expand(4, 2, 3) * 0.5,
    )
    target = Target("a cat", Constant(1.0, "1"), DEFAULT_STOP, Mask("image", path="m.png"), {})
    target.embeds = {demo: torch.randn(1, demo.embed_dim)}
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 0, 0] = 0.2  # mean 0.00078 < 0.001
    _set_mask_image(target, mask)
    loss = guidance_loss([target], demo, emb, cuts, _Ctx())
    loss.backward()
    assert loss.item() == 0 and torch.equal(emb.grad, torch.zeros_like(emb))
    mask[..., :8, :] = 1.0  # half the picture: on again
    _set_mask_image(target, mask)
    assert guidance_loss([target], demo, emb, cuts, _Ctx()).item() > 0
