"""cadence: only every Nth animation frame is optimised; the frames between are the key frames
warped along the motion and blended, emitted in order, and a stopped run resumes to the same
bits wherever in a cadence window it stopped."""

import numpy as np
import pytest
from test_animation import phase_shift

from pytti_nb.config.clock import Clock
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict, replace
from pytti_nb.engine.cadence import Cadence, steps_left
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.errors import SettingsError
from pytti_nb.io.png_meta import read_png_metadata
from pytti_nb.models import ModelCache
from pytti_nb.run import prepare_run, run_snapshots
from pytti_nb.ui.preview import schedule_chart

pytestmark = [pytest.mark.numerics]


@pytest.fixture(scope="module")
def models():
    return ModelCache()


def animation(tmp_path, **changes):
    """A 2D animation of noise on 24x20 pixels, one cutout, nine frames of two steps."""
    return {
        "scenes": "a red circle",
        "perceptors": ["demo"],
        "width": 24,
        "height": 20,
        "pixel_size": 1,
        "cutouts": 1,
        "steps_per_scene": 18,
        "steps_per_frame": 2,
        "save_every": 2,
        "display_every": 2,
        "learning_rate": 0.05,
        "seed": 3,
        "device": "cpu",
        "animation_mode": "2D",
        "cadence": 4,
        "output_root": str(tmp_path),
        **changes,
    }


def test_every_frame_moves_by_the_motion_and_key_frames_bound_each_window(tmp_path, models):
    # optimisation nearly frozen: every frame is the noise moved by the motion alone
    settings = animation(
        tmp_path, learning_rate=1e-6, smoothing_weight=0, translate_x=4, infill_mode="wrap"
    )
    saved = [s for s in snapshots(Session(plan_run(from_dict(settings)), models)) if s.save_number]
    assert [s.frame for s in saved] == list(range(9))  # every frame, in order, once
    assert [s.save_number for s in saved] == list(range(1, 10))
    assert [s.frame for s in saved if s.key_frame] == [0, 4, 8]  # each window's first and last
    assert all(not s.losses for s in saved if not s.key_frame)  # in-between: no steps of its own
    frames = [s.image.mean(axis=2) / 255 for s in saved]
    assert {phase_shift(a, b) for a, b in zip(frames, frames[1:], strict=False)} == {(4, 0)}


def test_saves_fall_on_the_frames_they_would_without_cadence(tmp_path, models):
    settings = animation(tmp_path, save_every=4, display_every=0)  # every other frame, and last
    snaps = list(snapshots(Session(plan_run(from_dict(settings)), models)))
    assert [(s.frame, s.save_number) for s in snaps] == [(1, 1), (3, 2), (5, 3), (7, 4), (8, 5)]
    assert snaps[-1].final and snaps[-1].key_frame


def test_in_between_frames_blend_the_key_frames_moved_to_them(tmp_path, models):
    # the optimiser changes each key frame: an in-between frame lies between the two key frames,
    # moved to it, nearer the one it is nearer in time
    settings = animation(tmp_path, learning_rate=0.3, translate_x=2, infill_mode="wrap")
    saved = [s for s in snapshots(Session(plan_run(from_dict(settings)), models)) if s.save_number]
    image = {s.frame: s.image.astype(float) for s in saved}
    before, after = np.roll(image[0], 2 * 3, axis=1), np.roll(image[4], -2 * 1, axis=1)
    frame_3 = image[3]
    near = np.abs(frame_3 - after).mean()
    far = np.abs(frame_3 - before).mean()
    assert near < far  # frame 3 is three quarters of the way to key frame 4
    expected = 0.25 * before + 0.75 * after
    assert np.abs(frame_3 - expected).max() <= 1  # whole-pixel moves on wrap: exact up to rounding


def assert_resumes_exactly(settings, models, where):
    """Run whole; run again up to the first snapshot where(snapshot) holds, take the state there
    (the generator paused, as at a save point) and resume from it: the resumed run yields what
    the whole run yielded after that snapshot, bit for bit."""
    whole = list(snapshots(Session(plan_run(from_dict(settings)), models)))
    r = Session(plan_run(from_dict(settings)), models)
    state = next(r.state_dict() for snap in snapshots(r) if where(snap))
    resumed = list(snapshots(Session(plan_run(from_dict(settings)), models, resume=state)))
    after = whole[next(i for i, snap in enumerate(whole) if where(snap)) + 1 :]
    assert len(resumed) == len(after)
    for a, b in zip(resumed, after, strict=True):
        assert (a.frame, a.step, a.save_number, a.key_frame) == (
            b.frame,
            b.step,
            b.save_number,
            b.key_frame,
        )
        assert np.array_equal(a.image, b.image)
    return resumed


def test_a_run_stopped_during_a_key_frame_resumes_to_the_same_bits(tmp_path, models):
    settings = animation(tmp_path, translate_x="1 + sin(t)", rotate_2d=3, save_every=1)
    # after step 9, the first of key frame 4's two: frames 1-3 are moved to but not yet made
    resumed = assert_resumes_exactly(settings, models, lambda s: s.step == 9 and s.key_frame)
    assert [s.frame for s in resumed[:3]] == [1, 1, 2]  # the in-between frames come out first


def test_a_run_stopped_while_emitting_in_between_frames_resumes_to_the_same_bits(tmp_path, models):
    settings = animation(tmp_path, translate_x=1, zoom_x_2d=1)
    resumed = assert_resumes_exactly(settings, models, lambda s: s.frame == 2)
    assert [s.frame for s in resumed] == [3, 4, 5, 6, 7, 8]


def test_png_metadata_says_which_frames_were_key_frames(tmp_path, models):
    job = prepare_run(settings=from_dict(animation(tmp_path, steps_per_scene=10)))
    list(run_snapshots(job, models=models))
    keys = {
        read_png_metadata(path)["frame"]: read_png_metadata(path)["key_frame"]
        for path in job.writer.save_paths()
    }
    assert keys == {0: True, 1: False, 2: False, 3: False, 4: True}


def test_the_progress_bar_never_steps_back_or_shows_an_in_between_frame_s_loss(
    tmp_path, models, monkeypatch
):
    import tqdm.auto

    from pytti_nb.run import run_to_completion

    seen = []

    class Recording(tqdm.auto.tqdm):
        def set_postfix(self, **shown):
            seen.append((self.n, shown["frame"], shown["loss"]))

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    job = prepare_run(settings=from_dict(animation(tmp_path, steps_per_scene=10)))
    run_to_completion(job, models=models)
    steps, frames, losses = zip(*seen, strict=True)
    assert frames == ("1/5", "2/5", "3/5", "4/5", "5/5")  # the in-between frames, in order
    assert list(steps) == sorted(steps) and steps[-1] == 10
    # the in-between frames (losses of their own: none) keep showing the last key frame's loss
    assert losses[1:4] == (losses[0],) * 3 and float(losses[0]) > 0


def test_key_frames_are_every_nth_each_scenes_first_and_the_last():
    # two scenes of 7 frames (3 steps a frame); scene 2 starts at frame 7
    settings = from_dict({"animation_mode": "2D", "steps_per_scene": 21, "steps_per_frame": 3})
    clock = Clock.of(settings, scenes=2)
    cadence = Cadence(4)
    assert [f for f in range(clock.frames) if cadence.is_key(clock, f)] == [0, 4, 7, 8, 12, 13]


@pytest.mark.parametrize("mode", ["2D", "off"])
def test_a_cadence_above_the_run_s_frames_is_refused_by_name(mode):
    settings = {"animation_mode": mode, "steps_per_scene": 10, "steps_per_frame": 2, "cadence": 6}
    with pytest.raises(SettingsError, match=r"cadence: 6 .*(5 animation frame|not animated)"):
        plan_run(from_dict({"scenes": "a red circle", "perceptors": ["demo"], **settings}))


@pytest.fixture(scope="module")
def drift_video(tmp_path_factory):
    """Noise drifting two pixels a frame, 16x16, 8 frames."""
    from media import write_video

    texture = np.random.default_rng(0).integers(0, 256, (16, 40, 3), np.uint8)
    path = tmp_path_factory.mktemp("video") / "drift.mp4"
    write_video(path, [np.ascontiguousarray(texture[:, 2 * i : 2 * i + 16]) for i in range(8)], 12)
    return path


MODES = {
    "3D": {"animation_mode": "3D", "depth_model": "none", "translate_z_3d": 20},
    "Video Source": {"animation_mode": "Video Source", "flow_model": "dis"},
    "Limited Palette": {"animation_mode": "2D", "image_model": "Limited Palette"},
    "FFT": {"animation_mode": "2D", "image_model": "FFT", "rotate_2d": 5},
    "Pyramid": {"animation_mode": "2D", "image_model": "Pyramid", "zoom_x_2d": 1},
    "VQGAN": {"animation_mode": "2D", "image_model": "VQGAN"},
}


@pytest.mark.parametrize("case", MODES)
def test_every_mode_and_image_model_renders_and_resumes_at_a_cadence(
    case, tmp_path, models, drift_video, tiny_vqgan
):
    settings = animation(
        tmp_path, width=16, height=16, steps_per_scene=5, steps_per_frame=1, save_every=1,
        cadence=2, translate_x=1, video_path=str(drift_video), vqgan_model=str(tiny_vqgan),
        **MODES[case],
    )  # fmt: skip
    resumed = assert_resumes_exactly(settings, models, lambda s: s.frame == 1)
    assert [(s.frame, s.key_frame) for s in resumed] == [(2, True), (3, False), (4, True)]


def test_the_estimate_counts_only_the_key_frames_steps(tmp_path, models):
    settings = animation(tmp_path, pre_animation_steps=3, steps_per_scene=21)  # frames 0-8
    session = Session(plan_run(from_dict(settings)), models)
    assert steps_left(session) == 3 + 3 * 2  # before the animation, then key frames 0, 4, 8
    session.step = 12  # within key frame 4 (steps 11 and 12)
    assert steps_left(session) == 1 + 2


def test_the_schedule_preview_marks_the_key_frames(tmp_path):
    settings = from_dict(animation(tmp_path, translate_x="sin(t)"))
    chart, _ = schedule_chart(settings)
    assert chart.count("class='mark'") == 3 and "key frames (the dashed lines) 0, 4, 8" in chart
    chart, _ = schedule_chart(replace(settings, cadence=1))
    assert "class='mark'" not in chart and "key frames" not in chart


def test_cadence_is_on_the_animation_tab_in_animation_modes():
    from pytti_nb.ui.compat import titles_of
    from pytti_nb.ui.panel import SettingsPanel

    def tab_of(mode):
        panel = SettingsPanel(from_dict({"animation_mode": mode}))
        panel.advanced.value = True
        pages = zip(titles_of(panel.tabs), panel.tabs.children, strict=True)
        names = {
            title: [row.children[0].description for row in page.children] for title, page in pages
        }
        return [title for title, shown in names.items() if "cadence" in shown]

    assert tab_of("2D") == ["Animation"] and tab_of("Video Source") == ["Animation"]
    assert tab_of("off") == []
