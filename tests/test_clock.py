"""The clock maps steps to scenes, animation frames and time exactly as PyTTI counts them."""

import pytest

from pytti_nb.config.clock import Clock
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.errors import SettingsError
from pytti_nb.ui.preview import schedule_series


def clock(**kw):
    base = dict(scenes=2, steps_per_scene=10, steps_per_frame=4, frames_per_second=2.0)
    return Clock(**{**base, **kw})


def test_time_is_pyttis_and_negative_before_the_animation():
    c = clock(pre_animation_steps=3, animated=True)
    assert c.at(0).t == pytest.approx(-3 / 8) and c.at(3).t == 0.0 and c.at(11).t == 1.0
    assert [c.at(i).frame for i in (0, 2, 3, 6, 7, 19)] == [-1, -1, 0, 0, 1, 4]


def test_frames_start_every_steps_per_frame_from_the_pre_animation():
    c = clock(pre_animation_steps=3, animated=True)
    assert [i for i in range(c.total_steps) if c.at(i).frame_start] == [3, 7, 11, 15, 19]
    assert c.frames == 5 and c.frame_start_step(2) == 11
    assert not c.at(2).animating and c.at(3).animating


def test_no_frame_starts_without_animation_but_time_still_runs():
    c = clock(pre_animation_steps=3)
    assert not any(c.at(i).frame_start or c.at(i).animating for i in range(c.total_steps))
    assert c.frames == 0 and c.at(7).t == 0.5 and c.at(7).frame == -1


def test_scene_blend_ramps_in_the_new_scene():
    c = clock(interpolation_steps=4)
    assert [c.at(i).blend for i in (0, 9, 10, 12, 14)] == [1.0, 1.0, 0.0, 0.5, 1.0]
    ctx = c.at(12)
    assert ctx.in_scene(1) == 0.5 and ctx.in_scene(0) == 0.5 and c.at(15).in_scene(0) == 0.0


def test_samples_match_the_contexts():
    c = clock(pre_animation_steps=5, animated=True)
    assert c.samples() == [(c.at(i).t, c.at(i).position) for i in range(c.total_steps)]


@pytest.mark.parametrize("mode", ["off", "2D", "3D", "Video Source"])
def test_every_mode_counts_t_from_the_pre_animation_steps(mode):
    """PyTTI's t = (step - pre) / (spf * fps) at every step, animation or not (update_func)."""
    s = from_dict({"animation_mode": mode, "pre_animation_steps": 50, "steps_per_frame": 10,
                   "frames_per_second": 4, "steps_per_scene": 120})  # fmt: skip
    c = Clock.of(s, 1)
    assert [c.at(i).t for i in range(c.total_steps)] == [(i - 50) / 40 for i in range(120)]
    assert c.at(0).t == -1.25 and c.at(50).t == 0.0 and c.at(51).t == 0.025  # within a frame
    assert c.samples() == [(c.at(i).t, c.at(i).position) for i in range(c.total_steps)]


def test_a_still_image_checks_and_previews_expressions_at_pyttis_t():
    """Validation and the schedule preview evaluate at the same negative pre-animation t."""
    base = {"perceptors": ["demo"], "width": 16, "height": 16, "steps_per_scene": 100,
            "pre_animation_steps": 50, "steps_per_frame": 10, "frames_per_second": 2}  # fmt: skip
    with pytest.raises(SettingsError, match=r"fails at t=-2\.5.*\(at step 0, frame -5\)"):
        plan_run(from_dict({**base, "scenes": "a red circle:sqrt(t)"}), check_models=False)
    p = plan_run(
        from_dict({**base, "scenes": "a red circle:1 if t < 0 else 2"}), check_models=False
    )
    assert p.settings.animation_mode == "off" and p.clock.at(49).t == -0.05
    steps, values = schedule_series(p)["scene 1: a red circle:1 if t < 0 else 2 (weight)"]
    assert values == [1.0 if step < 50 else 2.0 for step in steps]
