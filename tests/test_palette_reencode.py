"""palette_reencode: a Limited Palette Video Source frame re-encoded between scene cuts either
refits (ours) or, as PyTTI, keeps the palettes and the moved palette choices and sets only each
pixel's brightness level; checked against a numpy copy of PyTTI's code."""

import numpy as np
import pytest
import torch
from media import write_video
from test_video_source import following, source

from pytti_nb.animation.warp import Warp
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.image_models import LimitedPalette
from pytti_nb.models import ModelCache

pytestmark = pytest.mark.numerics

HSP = np.array([0.299, 0.587, 0.114])  # pixel.py's magic_color
INERTIA = 2  # pixel.py's pallet_inertia


# --- a numpy copy of PyTTI's code (pytti-core b5070aa, src/pytti/image_models/pixel.py) -------


def pytti_sort_pallet(pallet):
    """PixelImage.sort_pallet (pixel.py 278-296), unlocked: each palette dark to bright."""
    pallet = np.clip(pallet / INERTIA, 0, 1)
    color_norms = (np.square(pallet) * HSP).sum(axis=-1)
    pallet_indices = color_norms.argsort(axis=0).T
    return np.stack([pallet[i][:, j] for j, i in enumerate(pallet_indices)], axis=1)


def pytti_encode_value(frame):
    """encode_image with smart_encode=False (pixel.py 417-440): the only thing it sets, value,
    the HSP norm of the frame resized to the parameter size (here already that size)."""
    color_ref = frame.astype(np.float64).transpose(2, 0, 1) / 255  # TF.to_tensor
    return np.linalg.norm(color_ref * np.sqrt(HSP)[:, None, None], axis=0)


def pytti_decode(pallet, value, tensor):
    """decode_tensor's forward value (pixel.py 308-335): colour round(value*(K-1)) of the
    argmax palette, [H,W,3] (pixel scale 1: its nearest interpolation keeps the size)."""
    size, n_pallets = pallet.shape[:2]
    pallet = pytti_sort_pallet(pallet)
    value_rounds = np.round(np.clip(value, 0, 1) * (size - 1)).astype(int)
    pallet_weights = np.moveaxis(tensor, 0, 2)
    pallets = np.eye(n_pallets)[pallet_weights.argmax(axis=2)][..., None]
    return (pallet[value_rounds] * pallets).sum(axis=2)


def pytti_reencode(pallet, value, tensor, frame):
    """animate_video_source's re-encode between cuts (Transforms.py 477-481): lock_pallet(),
    encode_image(frame, smart_encode=False), lock_pallet(lock_palette): palette and choices
    stay, value becomes the frame's brightness."""
    return pallet, pytti_encode_value(frame), tensor


# --- tests ------------------------------------------------------------------------------------


def _model(reencode, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return LimitedPalette(
        6, 4, 1, generator=gen, device="cpu", palette_size=4, palettes=3,
        random_palette=True, reencode=reencode,
    )  # fmt: skip


def _frame():
    """A tiny palette-like frame whose brightness levels sit clear of rounding ties, so float
    rounding cannot pick another level on any machine."""
    frame = np.random.default_rng(3).integers(0, 256, (4, 6, 3)).astype(np.uint8)
    levels = pytti_encode_value(frame) * 3
    assert np.abs(levels - np.floor(levels) - 0.5).min() > 1e-3  # float32 errs by ~1e-7
    return frame


def _tensor(frame):
    return torch.from_numpy(frame.astype(np.float32) / 255).permute(2, 0, 1)[None]


SHIFT = Warp(
    sampling="nearest", infill="wrap", affine=torch.tensor([[1.0, 0, -2 * 2 / 6], [0, 1.0, 0]])
)  # the content 2 pixels to the right, as a flow warp moves it before the re-encode


def test_pytti_keeps_palettes_and_moved_choices_and_sets_brightness_as_pytti_did():
    model = _model("pytti")
    model.warp(SHIFT)  # Transforms.py: apply_flow moves value and choices, then the encode
    palette, logits = model.palette.detach().clone(), model.logits.detach().clone()
    frame = _frame()
    model.reencode(_tensor(frame))
    pallet, value, tensor = pytti_reencode(palette.numpy(), None, logits[0].numpy(), frame)
    assert torch.equal(model.palette, palette) and torch.equal(model.logits, logits)
    np.testing.assert_allclose(model.value[0, 0].detach().numpy(), value, atol=1e-6)
    picture = model.decode()[0].permute(1, 2, 0).detach().numpy()
    np.testing.assert_allclose(picture, pytti_decode(pallet, value, tensor), atol=1e-6)


def test_refit_is_our_encode_and_moves_the_palettes_and_choices():
    refit, encoded = _model("refit"), _model("refit")
    refit.warp(SHIFT)
    encoded.warp(SHIFT)
    before = refit.palette.detach().clone()
    frame = _tensor(_frame())
    refit.reencode(frame)
    encoded.encode(frame)
    for a, b in zip(refit.parameters(), encoded.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(refit.palette, before)
    assert set(refit.logits.unique().tolist()) == {0.0, 3.0}  # one-hot choices (CHOICE_MARGIN)


def test_steering_switches_the_reencode():
    from pytti_nb.config.schema import Settings

    model = _model("refit")
    model.steer(Settings(image_model="Limited Palette", palette_reencode="pytti"))
    assert model.reencode_mode == "pytti"


def test_a_video_source_run_keeps_its_palettes_between_cuts_and_encodes_at_the_cut(
    tmp_path, monkeypatch
):
    rng = np.random.default_rng(5)
    shot_a = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    shot_b = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    video = tmp_path / "cut.mp4"
    write_video(video, [shot_a] * 5 + [shot_b] * 5, 12)
    calls, palettes = [], []
    encode, reencode = LimitedPalette.encode, LimitedPalette.reencode

    def recorded(name, method):
        def call(model, image):
            method(model, image)
            calls.append(name)
            palettes.append(model.colours().clone())

        return call

    monkeypatch.setattr(LimitedPalette, "encode", recorded("encode", encode))
    monkeypatch.setattr(LimitedPalette, "reencode", recorded("reencode", reencode))
    settings = following(
        video, tmp_path, image_model="Limited Palette", palette_size=4, palettes=3,
        reencode_each_frame=True, palette_reencode="pytti",
    )  # fmt: skip
    r = Session(plan_run(from_dict(settings)), ModelCache())
    snaps = [s for s in snapshots(r) if s.save_number]
    # the init image, frames 0-3 (same shot), the cut at frame 4, frames 5-8
    assert calls == ["encode"] + ["reencode"] * 4 + ["encode"] + ["reencode"] * 4
    assert [s.frame for s in snaps if s.motion["cut"]] == [4]
    for kept in palettes[1:5]:  # between cuts the palettes stay (lr 1e-6 moves them a hair)
        assert (kept - palettes[0]).abs().max() < 1e-3
    last = source(video, 9)[0]  # frame 8 shows source frame 9: its brightness, as PyTTI's
    expected = pytti_encode_value((last.permute(1, 2, 0).numpy() * 255).round())
    np.testing.assert_allclose(r.image.value[0, 0].detach().numpy(), expected, atol=1e-4)


def test_imports_get_pyttis_reencode():
    from pytti_nb.config.pytti_import import import_pytti

    data = {"scenes": "a", "image_model": "Limited Palette", "animation_mode": "Video Source"}
    ours, _ = import_pytti(data, [])
    assert ours["palette_reencode"] == "pytti"
