"""Behaviour of the image-model interface and the Unlimited Palette model."""

import pytest
import torch
import torch.nn.functional as F

from pytti_nb.config.schema import Settings
from pytti_nb.errors import SettingsError
from pytti_nb.image_models import (
    IMAGE_MODELS,
    ImageModel,
    UnlimitedPalette,
    build_image_model,
    clamp_with_grad,
)


def _model(width=6, height=4, pixel_size=1, seed=0):
    """An Unlimited Palette model built through the registry."""
    gen = torch.Generator().manual_seed(seed)
    settings = Settings(image_model="Unlimited Palette", pixel_size=pixel_size)
    return build_image_model(settings, width=width, height=height, generator=gen, device="cpu")


def test_decode_shape_and_pixel_blocks():
    model = _model(width=6, height=4, pixel_size=3)
    image = model.decode()
    assert image.shape == (1, 3, 12, 18) and model.output_size == (18, 12)
    blocks = image.unfold(2, 3, 3).unfold(3, 3, 3)  # [1,3,4,6,3,3]: one 3x3 block per parameter
    assert torch.equal(blocks, blocks[..., :1, :1].expand_as(blocks))
    assert torch.equal(blocks[..., 0, 0], model.pixels.detach())


def test_init_is_seeded_uniform_fp32():
    a, b, c = _model(seed=1), _model(seed=1), _model(seed=2)
    assert torch.equal(a.pixels, b.pixels) and not torch.equal(a.pixels, c.pixels)
    assert a.pixels.dtype == torch.float32 and a.pixels.min() >= 0 and a.pixels.max() <= 1
    assert a.pixels.shape == (1, 3, 4, 6)


@pytest.mark.parametrize(
    "value, grad, passes",
    [
        (-0.5, 1.0, False),  # below range, descent would push further down: blocked
        (-0.5, -1.0, True),  # below range, descent moves it up toward the range: passes
        (1.5, -1.0, False),  # above range, descent pushes further up: blocked
        (1.5, 1.0, True),  # above range, descent moves it back down: passes
        (0.5, 1.0, True),  # inside the range: always passes
        (0.5, -1.0, True),
    ],
)
def test_clamp_with_grad_only_passes_gradients_pointing_inside(value, grad, passes):
    x = torch.tensor([value], requires_grad=True)
    y = clamp_with_grad(x, 0.0, 1.0)
    assert y.item() == min(max(value, 0.0), 1.0)
    (y * grad).sum().backward()
    assert x.grad.item() == (grad if passes else 0.0)


def test_gradient_flows_to_the_pixels():
    model = _model(pixel_size=2)
    model.decode().sum().backward()
    # 2x2 block per pixel
    assert torch.allclose(model.pixels.grad, torch.full_like(model.pixels, 4.0))


def test_encode_round_trips_an_image():
    model = _model(width=6, height=4, pixel_size=2)
    target = torch.rand(1, 3, 4, 6)
    model.encode(F.interpolate(target, scale_factor=2, mode="nearest"))
    assert torch.allclose(model.pixels, target, atol=1e-5)
    model.encode(target)  # same size as the parameters
    assert torch.allclose(
        model.decode(), F.interpolate(target, scale_factor=2, mode="nearest"), atol=1e-5
    )


def test_encode_upsamples_a_smaller_image_smoothly():
    model = _model(width=8, height=8)
    ramp = torch.linspace(0, 1, 4).view(1, 1, 1, 4).expand(1, 3, 4, 4)
    model.encode(ramp)
    row = model.pixels[0, 0, 0]
    assert row[0] == 0 and row[-1] == 1 and (row.diff() >= 0).all()  # monotone, not blocky steps
    assert len(set(row.tolist())) == 8


def test_encode_resizes_with_antialiasing():
    model = _model(width=4, height=4)
    checker = ((torch.arange(32).view(1, 32) + torch.arange(32).view(32, 1)) % 2).float()
    model.encode(checker.expand(1, 3, 32, 32))
    assert torch.allclose(model.pixels, torch.full_like(model.pixels, 0.5), atol=0.05)


def test_update_clamps_into_range():
    model = _model()
    with torch.no_grad():
        model.pixels.add_(torch.linspace(-2, 2, model.pixels.numel()).view_as(model.pixels))
    model.update()
    assert model.pixels.min() >= 0 and model.pixels.max() <= 1


def test_adam_fits_a_target_at_default_lr():
    model = _model(width=4, height=4, pixel_size=2)
    target = torch.rand(1, 3, 8, 8)
    opt = torch.optim.Adam(model.parameters(), lr=model.default_lr)
    start = F.mse_loss(model.decode(), target).item()
    for _ in range(30):
        opt.zero_grad()
        F.mse_loss(model.decode(), target).backward()
        opt.step()
        model.update()
    assert F.mse_loss(model.decode(), target).item() < 0.5 * start


def test_registry_and_interface():
    assert UnlimitedPalette.default_lr == 0.02 and issubclass(UnlimitedPalette, ImageModel)
    assert list(IMAGE_MODELS) == ["Unlimited Palette", "Limited Palette", "VQGAN", "FFT", "Pyramid"]
    with pytest.raises(TypeError):
        IMAGE_MODELS["x"] = UnlimitedPalette  # immutable registry
    assert _model().regularizers() == {}


def test_bad_names_and_sizes_raise_settings_error():
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(SettingsError, match="'Pixel' is unknown"):
        build_image_model(
            Settings(image_model="Pixel"), width=4, height=4, generator=gen, device="cpu"
        )
    with pytest.raises(SettingsError, match="pixel_size is 0"):
        UnlimitedPalette(4, 4, 0, generator=gen, device="cpu")
