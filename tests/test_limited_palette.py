"""Limited Palette: the picture uses only its palettes' colours, encodes images well, locks."""

import numpy as np
import pytest
import torch

from pytti_nb.animation.warp import Warp
from pytti_nb.config.plan import plan_run
from pytti_nb.config.schema import Settings
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.image_models import LimitedPalette, build_image_model
from pytti_nb.image_models.palette_fit import brightness, kmeans
from pytti_nb.models import ModelCache
from pytti_nb.run import prepare_run, run_to_completion

pytestmark = pytest.mark.numerics


def _model(width=8, height=6, pixel_size=1, seed=0, **options):
    gen = torch.Generator().manual_seed(seed)
    options = {"palette_size": 4, "palettes": 3, **options}
    return LimitedPalette(width, height, pixel_size, generator=gen, device="cpu", **options)


def _colours(image: torch.Tensor) -> set:
    """The distinct colours of a [1,3,H,W] image."""
    return {tuple(c) for c in image[0].flatten(1).T.tolist()}


def _blocks(colours, size=4):
    """An image of flat colour blocks side by side, [1,3,size,size*len(colours)]."""
    columns = [torch.tensor(c).view(3, 1, 1).expand(3, size, size) for c in colours]
    return torch.cat(columns, dim=2)[None]


def test_the_picture_is_made_only_of_palette_colours():
    model = _model(pixel_size=2)
    image = model.decode()
    assert image.shape == (1, 3, 12, 16)
    palette = {tuple(c) for c in model.colours().reshape(-1, 3).tolist()}
    assert _colours(image) <= palette and len(palette) <= 4 * 3


def test_each_palette_is_sorted_dark_to_bright():
    model = _model(random_palette=True)
    assert (brightness(model.colours()).diff(dim=0) >= 0).all()


def test_the_gradient_reaches_levels_choices_and_colours():
    model = _model()
    model.decode().mul(torch.rand(1, 3, 6, 8)).sum().backward()
    for p in (model.value, model.logits, model.palette):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_an_image_of_few_colours_round_trips_exactly():
    colours = [(0.9, 0.1, 0.1), (0.2, 0.3, 0.9), (0.95, 0.9, 0.2), (0.05, 0.05, 0.05)]
    image = _blocks(colours)
    model = _model(width=16, height=4, palette_size=3, palettes=2)
    model.encode(image)
    assert torch.allclose(model.decode(), image, atol=1e-6)


def test_a_smooth_colourful_image_encodes_within_a_small_error():
    # PyTTI's issue 175: its encode started some images in black and white
    y, x = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 32), indexing="ij")
    image = torch.stack([x, y, 1 - x * y])[None]
    model = _model(width=32, height=24, palette_size=6, palettes=9)
    model.encode(image)
    error = (model.decode() - image).abs().mean().item()
    pixels = image[0].flatten(1).T  # free k-means with as many colours: the floor for 54
    centres, assign = kmeans(pixels, pixels[torch.randperm(768)[:54]], 50)
    assert error < 0.035 and error < 1.1 * (centres[assign] - pixels).abs().mean().item()
    colours = model.colours().reshape(-1, 3)
    saturation = colours.max(1).values - colours.min(1).values
    assert saturation.mean() > 0.3  # the palettes hold the image's colours, not greys


def test_a_flat_image_leaves_the_losses_and_gradients_finite():
    model = _model()
    model.encode(torch.full((1, 3, 6, 8), 0.4))
    losses = model.regularizers()
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert torch.isfinite(model.logits.grad).all() and torch.isfinite(model.palette.grad).all()


def test_target_palette_fits_the_image_colours_and_locks_them():
    colours = [(0.9, 0.1, 0.1), (0.1, 0.8, 0.2), (0.2, 0.2, 0.9)]
    model = _model(palette_size=2, palettes=3)
    model.fit_palette(_blocks(colours, size=6))
    palette = model.colours().reshape(-1, 3)
    for c in colours:  # every colour of the image has a palette colour right next to it
        assert (palette - torch.tensor(c)).norm(dim=1).min() < 0.02
    before = model.colours().clone()
    with torch.no_grad():
        model.palette.add_(0.5)  # the optimiser moving the parameters changes nothing now
    assert torch.equal(model.colours(), before)


def test_a_warp_moves_levels_and_choices_together():
    model = _model(width=8, height=8, random_palette=True)
    before = model.decode().detach()
    shift = Warp(
        sampling="nearest",
        infill="wrap",
        affine=torch.tensor([[1.0, 0, -2 * 2 / 8], [0, 1.0, 0]]),  # content 2 px to the right
    )
    model.warp(shift)
    assert torch.equal(model.decode(), before.roll(2, dims=3))


def test_the_swatch_shows_each_palette_as_a_column():
    model = _model(random_palette=True)
    swatch = model.swatch()
    assert swatch.shape == (1, 3, 4 * 32, 3 * 16)
    assert torch.equal(swatch[0, :, 32 * 2, 16 * 1], model.colours()[2, 1])


def test_registry_builds_it_from_the_settings():
    settings = Settings(image_model="Limited Palette", palette_size=3, palettes=5, pixel_size=2)
    gen = torch.Generator().manual_seed(0)
    model = build_image_model(settings, width=4, height=4, generator=gen, device="cpu")
    assert isinstance(model, LimitedPalette) and model.colours().shape == (3, 5, 3)
    assert model.output_size == (8, 8)


@pytest.fixture(scope="module")
def models():
    return ModelCache()


def test_a_render_paints_the_prompt_with_no_more_colours_than_the_palettes(models, tmp_path):
    # 8 cutouts for 120 steps (0.4 of 16 for 150): a larger step and strong smoothing darken
    # the background in time. Over seeds 3 to 5, native and ATEN_CPU_CAPABILITY=default
    # kernels: 19 or 20 colours, red's share 0.13 to 0.22, the background 0.26 to 0.31 (before
    # issue 21's fix, which lets palette colours leave black and white: 12 colours, red's share
    # 0.11 to 0.21, the background 0.22 to 0.27)
    settings = {
        "scenes": "a red circle on a black background",
        "perceptors": ["demo"],
        "image_model": "Limited Palette",
        "palette_size": 4,
        "palettes": 5,
        "gamma": 1.0,
        "hdr_weight": 0.0,
        "width": 20,
        "height": 20,
        "pixel_size": 4,
        "cutouts": 8,
        "steps_per_scene": 120,
        "learning_rate": 0.04,
        "cutout_noise": 0.1,
        "smoothing_weight": 1.0,
        "seed": 3,
        "save_every": 0,
        "display_every": 120,
        "device": "cpu",
        "output_root": str(tmp_path),
    }
    image = list(snapshots(Session(plan_run(from_dict(settings)), models)))[-1].image
    assert len(np.unique(image.reshape(-1, 3), axis=0)) <= 4 * 5
    img = image.astype(np.float32) / 255
    red = img[..., 0] - img[..., 1:].max(-1) > 0.25
    assert 0.03 < red.mean() < 0.8, red.mean()
    assert img[~red].max(-1).mean() < 0.35  # the background stays dark


# Named colours a pixel of the picture is sorted into: whichever it is nearest to.
NAMED = {
    "black": (0, 0, 0),
    "white": (1, 1, 1),
    "red": (1, 0, 0),
    "green": (0, 1, 0),
    "blue": (0, 0, 1),
    "yellow": (1, 1, 0),
    "cyan": (0, 1, 1),
    "magenta": (1, 0, 1),
    "purple": (0.5, 0, 0.5),
}


def _shares(image: np.ndarray) -> dict:
    """The share of the picture's pixels nearest to each named colour."""
    names, colours = list(NAMED), np.array(list(NAMED.values()))
    img = image.astype(np.float32).reshape(-1, 3) / 255
    nearest = ((img[:, None] - colours[None]) ** 2).sum(-1).argmin(1)
    return {n: float((nearest == i).mean()) for i, n in enumerate(names)}


@pytest.mark.parametrize(
    "shape, background",
    [
        ("yellow square", "purple"),
        ("cyan circle", "black"),
        ("green square", "blue"),
        ("magenta square", "green"),
    ],
)
def test_the_demos_palette_settings_paint_the_two_prompted_colours(
    shape, background, models, tmp_path
):
    # issue 21: with the demo's settings (examples/demo.yaml) and palettes 5 x 4, the palette
    # colours and brightness levels that reached 0 or 1 had no gradient left, so renders ended
    # as black-and-white noise with specks of the prompted colours. 40 steps of 4 cutouts at
    # 32 px: over seeds 3 to 5, native and ATEN_CPU_CAPABILITY=default kernels, the two
    # colours cover 0.66 to 1.00 of the picture, each at least 0.23 (yellow 0.25, purple 0.66,
    # cyan 0.23, black 0.53, green 0.23, blue 0.30, magenta 0.34, green 0.44); before the fix,
    # seed 3 covered 0.22 (yellow on purple), 0.67 with cyan 0.14, and 0.23 (green on blue)
    settings = {
        "scenes": f"a {shape} on a {background} background",
        "perceptors": ["demo"],
        "image_model": "Limited Palette",
        "palettes": 5,
        "palette_size": 4,
        "learning_rate": 0.1,
        "cut_pow": 1.0,
        "cutout_noise": 0.1,
        "smoothing_weight": 0.3,
        "width": 8,
        "height": 8,
        "pixel_size": 4,
        "cutouts": 4,
        "steps_per_scene": 40,
        "seed": 3,
        "save_every": 0,
        "display_every": 40,
        "device": "cpu",
        "output_root": str(tmp_path),
    }
    image = list(snapshots(Session(plan_run(from_dict(settings)), models)))[-1].image
    assert len(np.unique(image.reshape(-1, 3), axis=0)) <= 5 * 4
    shares = _shares(image)
    fg, bg = shares[shape.split()[0]], shares[background]
    assert fg > 0.15 and bg > 0.15 and fg + bg > 0.6, shares


def test_lock_palette_keeps_it_bit_identical_and_show_palette_saves_swatches(
    tiny, models, tmp_path
):
    init = tmp_path / "init.png"
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)).save(
        init
    )
    settings = {
        **tiny,
        "image_model": "Limited Palette",
        "lock_palette": True,
        "show_palette": True,
        "init_image": str(init),
    }
    session = Session(plan_run(from_dict(settings)), models)
    locked = session.image.colours().clone()
    snaps = list(snapshots(session))
    assert torch.equal(session.image.colours(), locked)
    allowed = {tuple(c) for c in (locked * 255).round().byte().reshape(-1, 3).tolist()}
    assert {tuple(c) for c in snaps[-1].image.reshape(-1, 3).tolist()} <= allowed
    job = prepare_run(settings=from_dict(settings))
    run_to_completion(job, models=models, progress=False)
    swatches = sorted((job.run_dir / "palettes").glob("*.png"))
    assert [p.name for p in swatches] == ["000001.png", "000002.png", "000003.png"]
    assert np.asarray(Image.open(swatches[-1])).shape == (6 * 32, 9 * 16, 3)


def test_bad_palette_settings_are_clear_errors_before_any_model_loads(tiny, tmp_path):
    from pytti_nb.errors import SettingsError

    not_an_image = tmp_path / "palette.png"
    not_an_image.write_text("not a picture")
    base = {**tiny, "image_model": "Limited Palette"}
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict({**base, "target_palette": str(not_an_image)}))
    assert any(
        p.startswith("target_palette:") and "not a readable image" in p for p in e.value.problems
    )
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict({**base, "target_palette": str(tmp_path / "missing.png")}))
    assert any("does not exist" in p for p in e.value.problems)
    for key, value in (("palette_size", 0), ("palettes", 257)):
        with pytest.raises(SettingsError, match=f"{key}: {value} is out of range"):
            from_dict({**base, key: value})


def test_a_render_with_target_palette_paints_only_the_targets_colours(tiny, models, tmp_path):
    from PIL import Image

    colours = [(230, 25, 25), (25, 200, 50), (50, 50, 230), (240, 240, 240)]
    blocks = np.concatenate([np.full((16, 16, 3), c, np.uint8) for c in colours], axis=1)
    Image.fromarray(blocks).save(tmp_path / "target.png")
    settings = {
        **tiny,
        "image_model": "Limited Palette",
        "palette_size": 2,
        "palettes": 2,
        "target_palette": str(tmp_path / "target.png"),
    }
    image = list(snapshots(Session(plan_run(from_dict(settings)), models)))[-1].image
    used = np.unique(image.reshape(-1, 3), axis=0).astype(int)
    # every colour shown is one of the target's (to rounding: resizing blends block borders)
    gaps = np.abs(used[:, None] - np.array(colours)[None]).max(-1).min(1)
    assert len(used) >= 2 and gaps.max() <= 3, used


@pytest.mark.parametrize("gamma", [-1, -1e-300, 10.5, 1e300])
def test_a_gamma_outside_0_to_10_is_refused(tiny, gamma):
    from pytti_nb.errors import SettingsError

    with pytest.raises(SettingsError, match=r"gamma: .* is out of range.*0\.0 to 10\.0"):
        from_dict({**tiny, "image_model": "Limited Palette", "gamma": gamma})


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 10.0])
def test_palettes_start_on_pyttis_grey_ramp(gamma):
    model = _model(gamma=gamma, palette_size=5)
    pytti = (torch.linspace(0, 2, 5) ** gamma / 2).clamp(0, 1)  # pallet / pallet_inertia
    assert torch.allclose(model.colours()[:, 0, 0], pytti)


def test_a_flat_ramp_paints_more_than_one_colour(tiny, models):
    # gamma 0 (a PyTTI book's setting) once started every colour at white and stayed there
    settings = {**tiny, "image_model": "Limited Palette", "gamma": 0, "hdr_weight": 0}
    image = list(snapshots(Session(plan_run(from_dict(settings)), models)))[-1].image
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1 and image.min() < 250


@pytest.mark.parametrize("gamma", [0.1, 1.0, 10.0])
def test_every_allowed_gamma_ramps_from_black_to_white(gamma):
    model = _model(gamma=gamma, palette_size=6)
    ramp = model.ramp.flatten()
    assert ramp[0] == 0 and ramp[-1] == 1 and bool((ramp.diff() > 0).all())
