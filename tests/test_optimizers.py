"""Optimiser choice: every optimiser fits, the palette has its own rate, and resume is exact
with every image model and every optimiser, through a 2D animation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from test_animation import phase_shift

from pytti_nb.config.plan import plan_run
from pytti_nb.config.schema import schema_by_name
from pytti_nb.config.settings import from_dict, replace
from pytti_nb.engine.optim import OPTIMIZERS, build_optimizer, set_learning_rate
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.image_models import LimitedPalette, UnlimitedPalette
from pytti_nb.models import ModelCache

pytestmark = pytest.mark.numerics

# a step size that suits each optimiser on a pixel MSE (SGD's step is the raw gradient's)
RATES = {"SGD": 20.0}


def test_the_schema_offers_exactly_the_optimisers_we_build():
    assert schema_by_name()["optimizer"].choices == tuple(OPTIMIZERS)
    assert schema_by_name()["optimizer"].default == "Adam"


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimiser_fits_a_target(name):
    model = UnlimitedPalette(6, 6, 1, generator=torch.Generator().manual_seed(0), device="cpu")
    target = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    optimizer = build_optimizer(name, model, RATES.get(name, 0.05))
    assert type(optimizer) is OPTIMIZERS[name][0]
    start = F.mse_loss(model.decode(), target).item()
    for _ in range(60):
        optimizer.zero_grad()
        F.mse_loss(model.decode(), target).backward()
        optimizer.step()
        model.update()
    assert F.mse_loss(model.decode(), target).item() < 0.5 * start  # RAdam warms up slowly


def test_the_palette_has_its_own_learning_rate_and_steering_moves_both():
    model = LimitedPalette(
        4, 4, 1, generator=torch.Generator().manual_seed(0), device="cpu", palette_lr=0.5
    )
    optimizer = build_optimizer("AdamW", model, 0.02)
    assert [(g["name"], g["lr"]) for g in optimizer.param_groups] == [
        ("image", 0.02),
        ("palette", 0.5),
    ]
    model.palette_lr = None
    set_learning_rate(optimizer, model, 0.1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.1]


# every image model and every optimiser, each at least once
PAIRS = [
    ("Unlimited Palette", "SGD"),
    ("Limited Palette", "AdamW"),
    ("FFT", "RAdam"),
    ("Unlimited Palette", "NAdam"),
    ("Limited Palette", "Adamax"),
    ("FFT", "Adam"),
    ("VQGAN", "RAdam"),
    ("Pyramid", "AdamW"),
]


@pytest.fixture(scope="module")
def models():
    return ModelCache()


def animated(tiny, image_model, optimizer, vqgan):
    """A short 2D animation that moves and zooms, so resume must restore warped state."""
    return {
        **tiny,
        "cutouts": 1,  # one a step: exactness does not depend on how many
        "image_model": image_model,
        "vqgan_model": str(vqgan),
        "optimizer": optimizer,
        "learning_rate": None if optimizer != "SGD" else 50.0,
        "animation_mode": "2D",
        "steps_per_frame": 3,
        "translate_x": 2,
        "zoom_x_2d": 1,
        "rotate_2d": "3*t",
        "pre_animation_steps": 2,
    }


@pytest.mark.parametrize("image_model, optimizer", PAIRS)
def test_resume_is_exact_with_every_model_and_optimiser(
    tiny, models, tiny_vqgan, image_model, optimizer
):
    settings = from_dict(animated(tiny, image_model, optimizer, tiny_vqgan))
    whole = list(snapshots(Session(plan_run(settings), models)))[-1]
    r = Session(plan_run(settings), models)
    list(snapshots(r, should_stop=lambda: r.step >= 7))  # stopped inside the second frame
    state = r.state_dict()
    assert state["optimizer"]["param_groups"][0]["name"] == "image"
    resumed = list(snapshots(Session(plan_run(settings), models, resume=state)))[-1]
    assert resumed.step == whole.step and np.array_equal(resumed.image, whole.image)
    # the optimiser changes the result, so the test would notice a wrong one being restored
    other = replace(settings, optimizer="Adam" if optimizer != "Adam" else "NAdam")
    if other.optimizer != "SGD":
        other = replace(other, learning_rate=None)
    assert not np.array_equal(
        list(snapshots(Session(plan_run(other), models)))[-1].image, whole.image
    )


@pytest.mark.parametrize("mode", ["2D", "3D"])
@pytest.mark.parametrize(
    "image_model", ["Unlimited Palette", "Limited Palette", "VQGAN", "FFT", "Pyramid"]
)
def test_an_animation_moves_the_picture_of_every_image_model(
    tiny, models, trained_vqgan, image_model, mode, tmp_path
):
    noise = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(noise).resize((96, 80), Image.NEAREST).save(tmp_path / "noise.png")
    settings = {
        **tiny,
        "init_image": str(tmp_path / "noise.png"),
        "image_model": image_model,
        "vqgan_model": str(trained_vqgan),  # random weights would show mostly their biases
        "width": 48,
        "height": 40,
        "pixel_size": 1,
        "learning_rate": 1e-6,  # nearly frozen: what changes between frames is the warp
        "cutouts": 1,
        "animation_mode": mode,
        "depth_model": "none",  # 3D over a flat plane: a sideways camera move is a shift
        "lock_camera": False,  # (locked, the mean motion would be taken out)
        "steps_per_scene": 4,
        "steps_per_frame": 1,
        "pre_animation_steps": 0,
        "save_every": 1,
        "display_every": 1,
        "translate_x": 4,  # two codes of the f2 VQGAN
        "infill_mode": "wrap",
        "sampling_mode": "bilinear",
    }
    frames = [s.image.mean(2) for s in snapshots(Session(plan_run(from_dict(settings)), models))]
    assert frames[0].std() > 5  # a picture with structure to follow
    shifts = {phase_shift(a, b) for a, b in zip(frames, frames[1:], strict=False)}
    assert shifts == {(4, 0)} if mode == "2D" else shifts in ({(4, 0)}, {(-4, 0)}), shifts


def test_an_unknown_optimiser_is_an_error_listing_the_choices(tiny):
    from pytti_nb.errors import SettingsError

    with pytest.raises(SettingsError) as e:
        from_dict({**tiny, "optimizer": "Adamm"})
    (problem,) = e.value.problems
    assert problem.startswith("optimizer: 'Adamm'") and "AdamW" in problem and "SGD" in problem
    assert from_dict({**tiny, "optimizer": "adamw"}).optimizer == "AdamW"  # any case
