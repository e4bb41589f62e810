"""Depth models load through transformers like a downloaded one and map depth as PyTTI did."""

import pytest
import torch

from pytti_nb.models import ModelCache
from pytti_nb.models.depth import METRES, DepthEstimator, load_depth_model

pytestmark = pytest.mark.numerics


def test_a_saved_depth_model_loads_through_the_same_path_as_a_download(tiny_depth_model):
    model = load_depth_model(str(tiny_depth_model), device="cpu")
    assert isinstance(model, DepthEstimator) and not model.metric
    assert not any(p.requires_grad for p in model.model.parameters())
    assert (model.size, model.multiple) == (56, 14)
    image = torch.rand(1, 3, 40, 64, requires_grad=True)
    depth = model.depth(image, near=100.0, far=1000.0)
    assert depth.shape == (1, 1, 40, 64)
    assert depth.min() >= 100.0 and depth.max() <= 1000.0
    depth.mean().backward()  # depth stabilisation backpropagates through the model
    assert image.grad.abs().sum() > 0


def test_relative_depth_spans_one_to_ten_metres_then_pyttis_pixel_range(tiny_depth_model):
    model = load_depth_model(str(tiny_depth_model), device="cpu")
    metres = model.metres(torch.rand(1, 3, 56, 56))
    assert torch.isclose(metres.min(), torch.tensor(1.0)) and torch.isclose(
        metres.max(), torch.tensor(10.0)
    )
    # PyTTI's linear map of AdaBins' metres onto [near, far]: 10 m is the far plane
    depth = model.depth(torch.rand(1, 3, 56, 56), near=1.0, far=10000.0)
    far = 1 + (10000 - 1) * (10 - METRES[0]) / (METRES[1] - METRES[0])
    assert torch.isclose(depth.max(), torch.tensor(far))


def test_input_size_keeps_the_aspect_in_multiples_and_caps_the_area(tiny_depth_model):
    model = load_depth_model(str(tiny_depth_model), device="cpu")
    assert model.input_size(40, 64) == (56, 84)
    model.size = 518
    h, w = model.input_size(2048, 2048)
    assert h % 14 == 0 and h * w <= 500_000 * 1.05


def test_the_model_cache_loads_a_depth_model_once(tiny_depth_model):
    cache = ModelCache()
    first = cache.depth(str(tiny_depth_model))
    assert cache.depth(str(tiny_depth_model)) is first and cache.kinds() == ["depth"]
