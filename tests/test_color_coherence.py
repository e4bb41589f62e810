"""color_coherence: each animation frame's colours are held to the first frame's (or an image's).

Tiny 2D zooms on the demo perceptor: zooming out with black infill darkens an unmatched
animation frame by frame, which the match to the first frame holds back.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import tiny_settings

from pytti_nb.animation.colour import ColourCoherence, lab_to_rgb, match_colours, rgb_to_lab
from pytti_nb.config.clock import Clock
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.errors import SettingsError
from pytti_nb.io.checkpoint import load_checkpoint, save_checkpoint
from pytti_nb.models import ModelCache


@pytest.fixture(scope="module")
def models():
    return ModelCache()


@pytest.fixture(scope="module")
def orange(tmp_path_factory):
    """A 16x16 orange noise image: the animation's first colours."""
    rng = np.random.default_rng(0)
    base = np.array([220, 120, 40], dtype=float)
    pixels = np.clip(base + rng.normal(0, 25, (16, 16, 3)), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("coherence") / "orange.png"
    Image.fromarray(pixels).save(path)
    return path


def zoom_out(tmp_path, init, frames, **changes):
    """A 16x16 2D zoom out with black infill, one step per frame, every frame saved."""
    return tiny_settings(
        width=16, height=16, pixel_size=1, cutouts=1, steps_per_scene=frames, steps_per_frame=1,
        save_every=1, display_every=0, learning_rate=0.02, init_image=str(init),
        animation_mode="2D", zoom_x_2d="-1", zoom_y_2d="-1", infill_mode="black",
        output_root=str(tmp_path), **changes,
    )  # fmt: skip


def mean_lab(image: np.ndarray) -> np.ndarray:
    """The mean LAB colour of a uint8 HxWx3 image."""
    rgb = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    return rgb_to_lab(rgb).mean((0, 2, 3)).numpy()


def frames_of(settings, models) -> list[np.ndarray]:
    """Every saved frame of a render, in order."""
    session = Session(plan_run(from_dict(settings)), models)
    return [s.image for s in snapshots(session) if s.save_number]


def drift(frames) -> float:
    """The largest distance of a frame's mean LAB colour from the first frame's."""
    first = mean_lab(frames[0])
    return max(float(np.linalg.norm(mean_lab(f) - first)) for f in frames)


def test_lab_round_trip_and_match():
    rgb = torch.rand(1, 3, 8, 8)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4)
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([100.0, 0, 0]), atol=0.05)
    anchor = torch.stack([torch.tensor([60.0, 20, -10]), torch.tensor([5.0, 3, 4])])
    matched = rgb_to_lab(match_colours(rgb * 0.5, anchor)).flatten(2)[0]
    assert torch.allclose(matched.mean(1), anchor[0], atol=1.0)
    assert torch.allclose(matched.std(1, unbiased=False), anchor[1], atol=1.0)


def test_first_holds_a_48_frame_zoom_to_the_first_frames_colours(tmp_path, orange, models):
    off = drift(frames_of(zoom_out(tmp_path / "off", orange, 48), models))
    first = drift(
        frames_of(zoom_out(tmp_path / "first", orange, 48, color_coherence="first"), models)
    )
    assert off > 10  # the zoom's black infill darkens the unmatched frames
    assert first <= off / 2


def test_with_a_cadence_the_frames_between_key_frames_keep_the_colours_too(
    tmp_path, orange, models
):
    # the frames between key frames are the matched key frames moved and blended, so they
    # hold the first frame's colours as the key frames do (seeds 3-4, native and default kernels:
    # off drifts 73 LAB units in 24 frames, first 6)
    settings = zoom_out(tmp_path / "off", orange, 24, cadence=4)
    off = drift(frames_of(settings, models))
    settings = zoom_out(tmp_path / "first", orange, 24, cadence=4, color_coherence="first")
    frames = frames_of(settings, models)
    assert len(frames) == 24  # every frame, key or between, is saved
    assert off > 10 and drift(frames) <= off / 2


def test_an_image_anchor_pulls_the_frames_to_its_colours(tmp_path, orange, models):
    blue = tmp_path / "blue.png"
    Image.fromarray(np.full((8, 8, 3), (40, 80, 200), np.uint8)).save(blue)
    frames = frames_of(zoom_out(tmp_path, orange, 3, color_coherence=str(blue)), models)
    target = mean_lab(np.asarray(Image.open(blue)))
    start = np.linalg.norm(mean_lab(np.asarray(Image.open(orange))) - target)
    for frame in frames:  # every frame, the first included, starts from the anchor's colours
        assert np.linalg.norm(mean_lab(frame) - target) < start / 4


def test_the_first_frames_anchor_survives_a_resume(tmp_path, orange, models):
    settings = zoom_out(tmp_path, orange, 8, color_coherence="first")
    whole = frames_of(settings, models)
    session = Session(plan_run(from_dict(settings)), models)
    for snap in snapshots(session):
        if snap.step == 4:
            break
    save_checkpoint(tmp_path, session.state_dict())
    resumed = Session(plan_run(from_dict(settings)), models, resume=load_checkpoint(tmp_path))
    rest = [s.image for s in snapshots(resumed) if s.save_number]
    np.testing.assert_array_equal(rest[-1], whole[-1])


class _Flat:
    """An image model of one flat colour (decode only), to watch when the anchor is taken."""

    def __init__(self, value):
        self.value = value

    def decode(self):
        return torch.full((1, 3, 4, 4), self.value)

    def encode(self, image):
        self.value = float(image.mean())


def test_a_new_scene_takes_a_new_anchor():
    clock = Clock(
        scenes=2, steps_per_scene=3, steps_per_frame=1, frames_per_second=1, animated=True
    )
    coherence, model = ColourCoherence("cpu"), _Flat(0.2)
    matched = []
    for step in range(6):
        coherence.start_frame(model, clock.at(step))
        matched.append(coherence.active)
        if step == 3:
            model.value = 0.8  # the new scene's first frame, finished
        anchor = coherence.anchor
        coherence.apply(model)
    # a scene's first frame renders freely; the next frames are matched to it
    assert matched == [False, True, True, False, True, True]
    assert float(lab_to_rgb(anchor[0].view(1, 3, 1, 1)).mean()) == pytest.approx(0.8, abs=0.01)


def test_settings_are_checked_before_any_model_loads(tmp_path, orange):
    missing = str(tmp_path / "missing.png")
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict(zoom_out(tmp_path, orange, 4, color_coherence=missing)))
    assert "color_coherence" in str(e.value) and "missing.png" in str(e.value)
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict(zoom_out(tmp_path, orange, 4, color_coherence="")))
    assert "color_coherence" in str(e.value)
    # a still image has no frames to match: the setting is not read
    plan_run(from_dict(tiny_settings(color_coherence=missing, output_root=str(tmp_path))))
