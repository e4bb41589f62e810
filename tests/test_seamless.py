"""seamless: the picture tiles, its left edge continuing the right and its top the bottom.

A render started from a ramp (a full-height jump at both seams) is measured: seamless heals the
seams until they differ no more than neighbouring interior columns and rows do, where the same
render without it keeps them. Cutouts straddle the seams as often as any other place, warps
carry content out of one edge and in at the other (2D and 3D, whatever infill_mode says), and a
seamless VQGAN decodes its latent grid as a torus.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from vqgan_fixtures import tiny_random_vqgan

from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.errors import SettingsError
from pytti_nb.image_models import VQGANImage
from pytti_nb.losses.functional import sobel_edges, tv_loss
from pytti_nb.models import ModelCache
from pytti_nb.perception.cutouts import CutoutAugs, crop_with_thetas, make_cutouts

pytestmark = [pytest.mark.numerics]

SIDE = 16


@pytest.fixture(scope="module")
def models():
    return ModelCache()


def render(tmp_path, models, **changes):
    """Every saved frame of a 16x16 render, as float [H,W,3] arrays in [0,1]."""
    settings = {
        "scenes": "a red circle",
        "perceptors": ["demo"],
        "width": SIDE,
        "height": SIDE,
        "pixel_size": 1,
        "cutouts": 2,
        "steps_per_scene": 8,
        "save_every": 8,
        "display_every": 0,
        "learning_rate": 0.1,
        "seed": 2,
        "device": "cpu",
        "output_root": str(tmp_path),
        **changes,
    }
    session = Session(plan_run(from_dict(settings)), models)
    return [s.image.astype(float) / 255 for s in snapshots(session) if s.save_number]


def seam_ratios(image):
    """How much the seams (first column against last, first row against last) differ, over the
    mean difference of neighbouring interior columns and rows: (columns, rows)."""
    columns = np.abs(np.diff(image, axis=1)).mean()
    rows = np.abs(np.diff(image, axis=0)).mean()
    return (
        np.abs(image[:, 0] - image[:, -1]).mean() / columns,
        np.abs(image[0] - image[-1]).mean() / rows,
    )


def test_a_seamless_render_has_no_seams(tmp_path, models):
    # a ramp in red across and in green down: 1/16 between neighbours, a jump of 15/16 at the seams
    ys, xs = np.mgrid[0:SIDE, 0:SIDE] + 0.5
    ramp = np.stack((xs / SIDE, ys / SIDE, np.full_like(xs, 0.5)), axis=-1)
    path = tmp_path / "ramp.png"
    Image.fromarray((ramp * 255).astype(np.uint8)).save(path)
    assert min(seam_ratios(ramp)) > 10
    common = dict(init_image=str(path), smoothing_weight=10)
    (seamless,) = render(tmp_path / "on", models, seamless=True, **common)
    (plain,) = render(tmp_path / "off", models, **common)
    assert max(seam_ratios(seamless)) <= 1.5
    assert min(seam_ratios(plain)) > 2  # the same render keeps its seams without it


@pytest.mark.parametrize("axis", [1, 0])  # across the left/right seam, the top/bottom one
def test_cutouts_straddle_the_seams_as_often_as_the_middle(axis):
    height, width = 16, 32  # no crop spans the whole width, so none reaches both sides inside
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, height, width, generator=gen)

    def straddling(seamless):
        cuts = make_cutouts(
            image, 200, 8, cut_pow=2.0, border=0.25, border_mode="clamp",
            augs=CutoutAugs(), generator=gen, seamless=seamless,
        )  # fmt: skip

        def reads(index):  # which crops read this column (axis 1) or row (axis 0)
            line = torch.zeros(1, 1, height, width)
            line.select(2 + axis, index).fill_(1)
            return crop_with_thetas(line, cuts.thetas, 8, cuts.border_mode).amax((1, 2, 3)) > 0.5

        n = image.shape[2 + axis]
        return (reads(0) & reads(n - 1)).sum(), (reads(n // 2 - 1) & reads(n // 2)).sum()

    seam, middle = straddling(True)
    assert middle > 10 and seam > 0.5 * middle
    assert straddling(False)[0] == 0  # border_mode clamp alone keeps crops off the seam


def test_smoothing_and_edges_see_no_border_on_a_seamless_image():
    # on a torus every place is like every other: rolling the picture rolls the edges and
    # leaves the smoothing loss as it was; with the borders padded it does neither
    image = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(0))
    rolled = image.roll((3, 5), dims=(-2, -1))
    edges = sobel_edges(image, wrap=True).roll((3, 5), dims=(-2, -1))
    assert torch.allclose(sobel_edges(rolled, wrap=True), edges, atol=1e-6)
    assert torch.allclose(tv_loss(rolled, wrap=True), tv_loss(image, wrap=True), atol=1e-6)
    assert not torch.allclose(sobel_edges(rolled), edges, atol=1e-2)
    assert not torch.allclose(tv_loss(rolled), tv_loss(image), atol=1e-3)


def test_seamless_is_on_the_animation_tab_for_stills_and_animations():
    from pytti_nb.ui.compat import titles_of
    from pytti_nb.ui.panel import SettingsPanel

    def tabs_of(mode):  # the simple view: seamless is one of the settings most people touch
        panel = SettingsPanel(from_dict({"animation_mode": mode}))
        pages = zip(titles_of(panel.tabs), panel.tabs.children, strict=True)
        return [
            title
            for title, page in pages
            if "seamless" in [row.children[0].description for row in page.children]
        ]

    assert tabs_of("off") == ["Animation"] and tabs_of("2D") == ["Animation"]


def test_seamless_reads_bad_values_before_anything_loads():
    with pytest.raises(SettingsError) as caught:
        from_dict({"seamless": "sometimes"})
    assert "seamless" in str(caught.value) and "'sometimes'" in str(caught.value)


@pytest.mark.parametrize("mode", ["2D", "3D"])
def test_a_seamless_pan_brings_content_in_at_the_other_edge(mode, tmp_path, models):
    # optimisation nearly frozen, a quarter width per frame: after half the width the halves
    # have swapped, after the whole width the picture is back; infill black is overridden
    motion = {"translate_x": SIDE // 4}
    if mode == "3D":  # a plane at the focal distance, no drift removed: a pure pan
        motion.update(depth_model="none", lock_camera=False)
    frames = render(
        tmp_path, models, seamless=True, animation_mode=mode, infill_mode="black",
        learning_rate=1e-6, smoothing_weight=0, steps_per_scene=5, steps_per_frame=1,
        save_every=1, **motion,
    )  # fmt: skip
    first, half, whole = frames[0], frames[2], frames[4]
    assert np.abs(half - np.roll(first, SIDE // 2, axis=1)).max() <= 2 / 255
    assert np.abs(whole - first).max() <= 2 / 255
    assert np.abs(half - first).mean() > 0.1  # it did move


@torch.no_grad()
def test_a_seamless_vqgan_decodes_its_latent_grid_as_a_torus():
    vqgan = tiny_random_vqgan()

    def rolled_difference(seamless):
        """How far decoding the latent rolled by one code is from the picture rolled by f."""
        gen = torch.Generator().manual_seed(0)
        model = VQGANImage(24, 16, generator=gen, vqgan=vqgan, seamless=seamless)
        picture = model.decode()
        model.z.copy_(model.z.roll(1, dims=-1))
        return (model.decode() - picture.roll(vqgan.factor, dims=-1)).abs().max().item()

    assert rolled_difference(True) < 1e-5  # no place is an edge: every code sees neighbours
    assert rolled_difference(False) > 1e-2  # zero padding makes the borders edges
    assert rolled_difference(False) > 1e-2  # and the shared network got its padding back
