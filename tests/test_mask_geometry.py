"""mask_geometry: letter and image masks read each cutout's own place (cutout, as PyTTI's
documentation says) or, as PyTTI's code did, its size as its place and its place as its size
(pytti); checked against a numpy copy of PyTTI's masks on drawn cutouts and a drawn mask."""

import dataclasses

import numpy as np
import pytest
import torch

from pytti_nb.lang.prompts import LETTER_MASKS, Mask, MaskKind
from pytti_nb.perception.cutouts import NO_JITTER, Cutouts, make_cutouts
from pytti_nb.perception.targets import Target, _set_mask_image, mask_of

HEIGHT, WIDTH = 30, 40  # the image the cutouts are cut from; masks are drawn at this size

# --- a numpy copy of PyTTI's masks (pytti-core b5070aa, src/pytti/Perceptor/Prompt.py) --------
# Each returns the per-cutout stops (1: the prompt does not pull there) or weights.


def mask_right(pos, size, thresh=0.5):  # Prompt.py 52-55
    cent = pos[..., 0] + size[..., 0] / 2
    return (cent < thresh).astype(float)


def mask_left(pos, size, thresh=0.5):  # Prompt.py 58-61
    cent = pos[..., 0] + size[..., 0] / 2
    return (cent > thresh).astype(float)


def mask_down(pos, size, thresh=0.5):  # Prompt.py 64-67
    cent = pos[..., 1] + size[..., 1] / 2
    return (cent < thresh).astype(float)


def mask_near(pos, size, thresh=0.5):  # Prompt.py 70-72
    return (size.min(axis=-1) < thresh).astype(float)


def mask_far(pos, size, thresh=0.5):  # Prompt.py 75-77
    return (size.min(axis=-1) > thresh).astype(float)


def mask_up(pos, size, thresh=0.5):  # Prompt.py 80-83
    cent = pos[..., 1] + size[..., 1] / 2
    return (cent > thresh).astype(float)


MASK_DICT = {"r": mask_right, "l": mask_left, "d": mask_down, "u": mask_up}
MASK_DICT |= {"n": mask_near, "f": mask_far}  # Prompt.py 178-186


def mask_image(mask_tensor):
    """Prompt.py 91-155 for a mask already read (HxW in [0,1]): the mean of the mask over the
    box from pos to pos + size, with its error diffusion between cutouts, over sqrt(mean)."""
    mu = mask_tensor.mean()
    err_tensor = np.zeros_like(mask_tensor)
    height, width = mask_tensor.shape[-2:]
    size_tensor = np.array([width, height]).reshape(1, -1)

    def mask(pos, size, thresh=0.5):
        low, high = pos, pos + size
        low_px = np.floor(low * size_tensor).astype(int)
        high_px = np.floor(high * size_tensor).astype(int)
        low_xs, low_ys = (
            np.clip(low_px[..., 0], 0, width - 1),
            np.clip(low_px[..., 1], 0, height - 1),
        )
        high_xs = np.clip(high_px[..., 0], 0, width - 1)
        high_ys = np.clip(high_px[..., 1], 0, height - 1)
        areas = (high_xs - low_xs) * (high_ys - low_ys)
        out = np.zeros(pos.shape[:-1])
        n = out.size
        for i in np.argsort(areas.reshape(-1))[::-1]:
            low_x, low_y, high_x, high_y = low_xs[i], low_ys[i], high_xs[i], high_ys[i]
            if (high_x - low_x) * (high_y - low_y) > 0:
                weight_sample = mask_tensor[low_y:high_y, low_x:high_x]
                err_sample = err_tensor[low_y:high_y, low_x:high_x]
                err_sample = np.sign(err_sample) * np.sqrt(np.abs(err_sample))
                weight = (weight_sample + err_sample).mean()
                err = mask_tensor[low_y:high_y, low_x:high_x] - weight
                err_tensor[low_y:high_y, low_x:high_x] += np.square(err) / n * np.sign(err)
            else:
                weight = 0.0
            out[i] = weight
        return out / np.sqrt(mu)

    return mask


def make_mask(mask_fun, thresh=0.5):
    """Prompt.py 40-48: the mask is called (size, pos), against its declaration (pos, size)."""
    return lambda pos, size: mask_fun(size, pos, thresh)


# --- drawn cutouts ----------------------------------------------------------------------------


def drawn_boxes(n=24, seed=1):
    """PyTTI's (pos, size) [n,2] of n cutouts of the image (float64), with no box edge and no
    letter-mask measure within a hair of a rounding or comparison tie."""
    rng = np.random.default_rng(seed)
    side = rng.uniform(6, HEIGHT, n)
    x = rng.uniform(-3, WIDTH - side + 3)  # a little past the edges, as border modes allow
    y = rng.uniform(-3, HEIGHT - side + 3)
    pos = np.stack((x / WIDTH, y / HEIGHT), axis=1)
    size = np.stack((side / WIDTH, side / HEIGHT), axis=1)
    scale = np.array([WIDTH, HEIGHT])
    for edge in (pos * scale, (pos + size) * scale, size * scale, (size + pos) * scale):
        assert np.abs(edge - np.round(edge)).min() > 1e-4  # float32 errs by ~1e-5 px here
    for measure in (pos + size / 2, size + pos / 2, size, pos):
        assert np.abs(measure - 0.5).min() > 1e-4
    return pos, size


def our_cutouts(pos, size, geometry):
    """The same cutouts as ours: centres over the image's sides, sides over its long side."""
    centers = torch.from_numpy(pos + size / 2).float()
    sides = torch.from_numpy(size[:, 0] * WIDTH / max(HEIGHT, WIDTH)).float()
    empty = torch.empty(0)
    return Cutouts(empty, centers, sides, empty, "black", (HEIGHT, WIDTH), geometry)


def target(mask: Mask, image=None) -> Target:
    t = Target("p", None, None, mask, embeds={})
    if image is not None:
        _set_mask_image(t, torch.from_numpy(image).float()[None, None])
    return t


def drawn_mask():
    """A mask at the image's size: a bright disc, a dark corner and a ramp between."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    mask = np.clip(x / WIDTH, 0, 1) * 0.5
    mask[(x - 25) ** 2 + (y - 12) ** 2 < 64] = 1.0
    mask[:8, :10] = 0.0
    return mask


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("letter", list("rludnf"))
def test_letter_masks_measure_as_pyttis_code_or_as_its_documentation(letter):
    pos, size = drawn_boxes()
    t = target(Mask(kind=LETTER_MASKS[letter]))
    swapped = make_mask(MASK_DICT[letter])(pos, size)
    documented = MASK_DICT[letter](pos, size)
    assert not np.array_equal(swapped, documented)  # the cutouts tell the two apart
    for geometry, expected in (("pytti", swapped), ("cutout", documented)):
        stops, weights = mask_of(t, None, None, our_cutouts(pos, size, geometry), None)
        assert weights is None
        np.testing.assert_array_equal(stops.numpy(), expected)


def test_image_masks_weigh_pyttis_swapped_box_as_its_code_did():
    pos, size = drawn_boxes()
    image = drawn_mask()
    stops, weights = mask_of(
        target(Mask(kind=MaskKind.IMAGE, path="m.png"), image),
        None, None, our_cutouts(pos, size, "pytti"), None,
    )  # fmt: skip
    # PyTTI's weight of each cutout alone (its error diffusion runs between cutouts; ours has none)
    pyttis = [make_mask(mask_image(image))(pos[i : i + 1], size[i : i + 1])[0] for i in range(24)]
    assert stops is None
    np.testing.assert_allclose(weights.numpy(), pyttis, rtol=1e-5, atol=1e-6)
    assert 0 < sum(w == 0 for w in pyttis) < 24  # some boxes empty (PyTTI: 0), most not


def test_video_masks_keep_the_cutout_geometry_in_pytti_mode():
    # PyTTI set a video mask's frames through Prompt.set_mask: called in the declared order
    image = torch.rand(1, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))
    cuts = make_cutouts(
        image, 16, 8, cut_pow=1.0, border=0.1, border_mode="black",
        augs=NO_JITTER, generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    video = target(Mask(kind=MaskKind.VIDEO, path="m.mp4"), drawn_mask())
    still = target(Mask(kind=MaskKind.IMAGE, path="m.png"), drawn_mask())
    weigh = lambda t, g: mask_of(t, None, None, dataclasses.replace(cuts, mask_geometry=g), None)[1]  # noqa: E731
    assert torch.equal(weigh(video, "pytti"), weigh(video, "cutout"))
    assert torch.equal(weigh(video, "pytti"), weigh(still, "cutout"))
    assert not torch.equal(weigh(still, "pytti"), weigh(still, "cutout"))


def test_pyttis_boxes_are_the_cutouts_own_on_a_wide_image():
    from pytti_nb.perception.pytti_masks import pytti_boxes

    pos, size = drawn_boxes()
    got_pos, got_size = pytti_boxes(our_cutouts(pos, size, "pytti"))
    np.testing.assert_allclose(got_pos.numpy(), pos, atol=1e-6)
    np.testing.assert_allclose(got_size.numpy(), size, atol=1e-6)


def test_a_render_reads_its_masks_in_the_geometry_its_settings_name(tmp_path, monkeypatch):
    from pytti_nb.config.plan import plan_run
    from pytti_nb.config.settings import from_dict
    from pytti_nb.engine.render import snapshots
    from pytti_nb.engine.session import Session
    from pytti_nb.models import ModelCache
    from pytti_nb.perception import targets

    seen, real = [], targets.mask_of

    def recorded(target, perceptor, emb, cuts, ctx):
        seen.append((cuts.mask_geometry, cuts.image_size))
        return real(target, perceptor, emb, cuts, ctx)

    monkeypatch.setattr(targets, "mask_of", recorded)
    models = ModelCache()
    for geometry in ("pytti", "cutout"):
        seen.clear()
        settings = {
            "scenes": "sky:1_u", "perceptors": ["demo"], "width": 10, "height": 6,
            "pixel_size": 2, "cutouts": 2, "steps_per_scene": 2, "save_every": 0,
            "device": "cpu", "seed": 1, "mask_geometry": geometry, "output_root": str(tmp_path),
        }  # fmt: skip
        list(snapshots(Session(plan_run(from_dict(settings)), models)))
        assert seen and set(seen) == {(geometry, (12, 20))}


def test_imports_get_pyttis_geometry():
    from pytti_nb.config.pytti_import import import_pytti

    ours, _ = import_pytti({"scenes": "sky:2_u | fire:1_[mask.png]"}, [])
    assert ours["mask_geometry"] == "pytti"
