"""The Fourier image: exact re-encoding, a 1/f spectrum, and it paints the prompt."""

import numpy as np
import pytest
import torch

from pytti_nb.animation.warp import Warp
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.image_models import FourierImage
from pytti_nb.models import ModelCache

pytestmark = pytest.mark.numerics


def _model(width=10, height=8, pixel_size=1, seed=0, decay=1.0):
    gen = torch.Generator().manual_seed(seed)
    return FourierImage(width, height, pixel_size, generator=gen, device="cpu", decay=decay)


@pytest.mark.parametrize("width", [10, 9])  # even and odd widths (the rfft's Nyquist column)
def test_encode_then_decode_gives_the_image_back(width):
    model = _model(width=width)
    image = torch.rand(1, 3, 8, width, generator=torch.Generator().manual_seed(1)) * 0.98 + 0.01
    model.encode(image)
    assert (model.decode() - image).abs().max() < 1e-4


def test_a_new_image_starts_grey_and_its_pixels_stay_inside_the_range():
    model = _model()
    image = model.decode()
    assert (image - 0.5).abs().max() < 0.05
    with torch.no_grad():
        model.spectrum.mul_(1e4)
    image = model.decode()
    assert image.min() >= 0 and image.max() <= 1


def test_the_spectrum_scale_makes_coarse_structure_cheaper_than_fine():
    # one unit of parameter at the lowest frequency moves the image more than at the highest
    model = _model(width=16, height=16)
    base = model.decode().detach()
    effect = {}
    for name, (row, col) in {"coarse": (0, 1), "fine": (8, 8)}.items():
        probe = _model(width=16, height=16)
        with torch.no_grad():
            probe.spectrum[0, :, row, col, 0] += 1.0
        effect[name] = (probe.decode() - base).abs().mean().item()
    assert effect["coarse"] > 5 * effect["fine"]


def test_a_warp_moves_the_image_in_pixel_space():
    model = _model(width=8, height=8)
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 0.9 + 0.05
    model.encode(image)
    shift = Warp(
        sampling="nearest", infill="wrap", affine=torch.tensor([[1.0, 0, -0.5], [0, 1, 0]])
    )
    assert model.warp(shift) is False  # decoded, warped and encoded again
    assert (model.decode() - image.roll(2, dims=3)).abs().max() < 1e-4


def test_the_fourier_image_paints_the_prompted_colour(tmp_path):
    # its background darkens late (0.30 to 0.36 at 100 steps, 0.15 to 0.21 at 150): at 125,
    # over seeds 3 to 5, native and ATEN_CPU_CAPABILITY=default kernels, red's share 0.18 to
    # 0.20, its channel 0.74 to 0.77, the background 0.23 to 0.27
    settings = {
        "scenes": "a red circle on a black background",
        "perceptors": ["demo"],
        "image_model": "FFT",
        "width": 24,
        "height": 24,
        "pixel_size": 4,
        "cutouts": 16,
        "steps_per_scene": 125,
        "cutout_noise": 0.1,
        "seed": 3,
        "save_every": 0,
        "display_every": 125,
        "device": "cpu",
        "output_root": str(tmp_path),
    }
    session = Session(plan_run(from_dict(settings)), ModelCache())
    assert session.optimizer.param_groups[0]["lr"] == FourierImage.default_lr
    img = list(snapshots(session))[-1].image.astype(np.float32) / 255
    red = img[..., 0] - img[..., 1:].max(-1) > 0.25
    assert 0.03 < red.mean() < 0.8, red.mean()
    assert img[red][:, 0].mean() > 0.5
    assert img[~red].max(-1).mean() < 0.35
