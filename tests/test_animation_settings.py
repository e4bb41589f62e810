"""Animation settings are checked over the whole run before any model loads."""

import pytest

from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.errors import SettingsError
from pytti_nb.models import network
from pytti_nb.models.depth_config import DepthModelError, check_depth_model

BASE = {
    "scenes": "a red circle",
    "perceptors": ["demo"],
    "width": 16,
    "height": 16,
    "steps_per_scene": 100,
    "steps_per_frame": 10,
    "frames_per_second": 10,
    "depth_model": "none",
}
MODEL = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"  # near_plane to far_plane


def problems_of(**changes):
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict({**BASE, **changes}))
    return "\n".join(e.value.problems)


def test_a_motion_expression_that_fails_mid_run_names_the_setting_and_the_frame():
    text = problems_of(animation_mode="2D", translate_x="1/(t - 0.5)")
    assert "translate_x" in text and "frame 5" in text


def test_motion_that_becomes_infinite_is_refused_with_its_frame():
    text = problems_of(animation_mode="2D", rotate_2d="exp(t*1000)")
    assert "rotate_2d" in text and "too large" in text and "frame 8" in text
    text = problems_of(animation_mode="2D", rotate_2d="1e300*1e300 if t > 0.5 else 0")
    assert "rotate_2d" in text and "finite" in text and "frame 6" in text


@pytest.mark.parametrize(
    ("rotate", "expected"),
    [
        ("[1, 0, 0]", "has 3 component(s); expected 4"),
        ("[1, 0, 0, 0, 0]", "has 5 component(s)"),
        ("[0, 0, 0, 0]", "the quaternion is [0, 0, 0, 0] at frame 0"),
        ("[1-t, 0, 0, 0]", "the quaternion is [0, 0, 0, 0] at frame 10"),
    ],
)
def test_quaternions_need_four_components_and_a_length(rotate, expected):
    text = problems_of(animation_mode="3D", rotate_3d=rotate, steps_per_scene=120)
    assert "rotate_3d" in text and expected in text


@pytest.mark.parametrize("fov", [0, 180, 1e-300, 5e-324, 0.999, 179.001, -60, 1e300])
def test_field_of_view_is_refused_outside_1_179_degrees(fov):
    with pytest.raises(SettingsError) as e:
        from_dict({**BASE, "animation_mode": "3D", "field_of_view": fov})
    assert "field_of_view" in str(e.value) and "1.0 to 179.0" in str(e.value)


@pytest.mark.parametrize("fov", [1, 179])
def test_field_of_view_at_its_bounds_projects_finitely(fov):
    from pytti_nb.animation.motion import focal_length

    p = plan_run(from_dict({**BASE, "animation_mode": "3D", "field_of_view": fov}))
    assert 0 < focal_length(p.output_size[1], p.settings.field_of_view) < 1e6


@pytest.mark.parametrize(
    "rotate",
    [
        "[1e-300, 0, 0, 0]",
        "[5e-324, 0, 0, 0]",
        "[0, 1e-200, 1e-200, 0]",
        "[1e-300*t, 0, 0, 1e-310]",
    ],
)
def test_a_tiny_quaternion_is_a_rotation_like_any_other(rotate):
    from pytti_nb.animation.motion import unit_quaternion
    from pytti_nb.animation.three_d import rotation_matrix

    p = plan_run(from_dict({**BASE, "animation_mode": "3D", "rotate_3d": rotate}))
    q = tuple(v(1.0, 10.0) for v in p.motion["rotate_3d"])
    unit = unit_quaternion(q)
    assert abs(sum(c * c for c in unit) - 1) < 1e-9
    matrix = rotation_matrix(q)
    assert bool(matrix.isfinite().all()) and abs(float(matrix.det()) - 1) < 1e-5


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("translate_x", "1e12*(r>1.5)"),
        ("translate_y", "-1e12*(mu > 9000)"),
        ("translate_z_3d", "1e12*(R < 5000)"),
        ("rotate_3d", "[1, 1e12*(R < 5000), 0, 0]"),
        ("translate_x", "1e300*1e300*(r == 10000)"),
    ],
)
def test_motion_bounds_hold_at_every_depth_a_depth_model_can_give(setting, value):
    settings = {**BASE, "animation_mode": "3D", "depth_model": MODEL, setting: value}
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict(settings), check_models=False)  # the model is not needed to check
    assert setting in str(e.value) and ("within" in str(e.value) or "finite" in str(e.value))


def test_motion_that_reads_no_depth_is_evaluated_once_per_frame():
    from pytti_nb.animation.motion import check_motion_over_run, depth_ranges

    s = from_dict({**BASE, "animation_mode": "3D", "depth_model": MODEL})
    p = plan_run(s, check_models=False)
    calls = {"t": 0, "r": 0}

    class Counted:
        def __init__(self, key, names):
            self.key, self.names_used = key, frozenset(names)

        def __call__(self, *args, **kwargs):
            calls[self.key] += 1
            return 0.0

    check_motion_over_run(
        p.clock,
        {"translate_x": Counted("t", {"t"}), "translate_y": Counted("r", {"r"})},
        depth_ranges(s, 16),
        [],
    )
    assert calls["t"] == p.clock.frames and calls["r"] == 5 * p.clock.frames


def test_near_plane_must_be_below_the_far_plane():
    text = problems_of(animation_mode="3D", near_plane=500, far_plane=100)
    assert "near_plane/far_plane" in text and "below the far plane" in text


def test_3d_depth_names_are_allowed_in_3d_and_refused_in_2d():
    p = plan_run(from_dict({**BASE, "animation_mode": "3D", "translate_z_3d": "mu/100 + r - R"}))
    assert set(p.motion) == {"translate_x", "translate_y", "translate_z_3d", "rotate_3d"}
    assert "translate_x" in problems_of(animation_mode="2D", translate_x="mu/100")


def test_motion_settings_of_other_modes_are_not_evaluated():
    # zoom is a 2D setting: a 3D run never evaluates it, so it cannot fail the run
    p = plan_run(from_dict({**BASE, "animation_mode": "3D", "zoom_x_2d": "1/(t-0.5)"}))
    assert "zoom_x_2d" not in p.motion


def test_stabilisation_mask_files_must_exist():
    text = problems_of(animation_mode="2D", direct_stabilization_weight="1_[gone.png]")
    assert "mask of direct_stabilization_weight" in text and "'gone.png' does not exist" in text


def test_depth_stabilisation_needs_a_depth_model():
    text = problems_of(animation_mode="2D", depth_stabilization_weight=1, depth_model="none")
    assert "depth_stabilization_weight" in text and "needs a depth model" in text


def test_an_unavailable_depth_model_offline_names_the_offline_options(monkeypatch, tmp_path):
    monkeypatch.setattr(network, "reachable", lambda *a, **k: False)
    for proxy in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    text = problems_of(
        animation_mode="3D",
        depth_model="depth-anything/Depth-Anything-V2-Small-hf",
        models_cache_dir=str(tmp_path),
    )
    assert "is not downloaded yet" in text and "depth_model: none" in text
    assert "local folder" in text


def test_a_depth_model_folder_needs_a_config_and_weights(tmp_path):
    with pytest.raises(DepthModelError, match="no config.json"):
        check_depth_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(DepthModelError, match="no weights"):
        check_depth_model(str(tmp_path))
    with pytest.raises(DepthModelError, match="neither a folder nor"):
        check_depth_model("not a model id!")


def test_target_weights_take_pyttis_weight_mask_stop_and_schedules_stay_unambiguous(tmp_path):
    mask = tmp_path / "m.png"
    from PIL import Image

    Image.new("L", (4, 4), 255).save(mask)
    p = plan_run(
        from_dict(
            {
                **BASE,
                "animation_mode": "2D",
                "direct_stabilization_weight": f"2_[{mask}]:-0.5",
                "edge_stabilization_weight": "0:(0), 5:(1)",
                "semantic_stabilization_weight": "{0:(1), 5:(0)}",
            }
        )
    )
    direct = p.weights["direct_stabilization_weight"]
    assert direct.weight(0) == 2 and direct.stop(0) == -0.5 and direct.mask.path == str(mask)
    assert p.weights["edge_stabilization_weight"].weight(0, 2.5) == 0.5
    assert p.weights["semantic_stabilization_weight"].weight(0, 2.5) == 0.5
    assert "direct_init_weight" in p.off and "edge_stabilization_weight" not in p.off


def test_previews_can_plan_without_probing_for_models(monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError("a preview must not probe the network")

    monkeypatch.setattr(network, "reachable", probe)
    settings = from_dict({**BASE, "animation_mode": "3D", "depth_model": "org/not-downloaded"})
    assert plan_run(settings, check_models=False).motion


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"translate_x": 1e12}, "translate_x: reaches 1e+12 at frame 3"),
        ({"translate_y": -2e9}, "translate_y: reaches 2e+09 at frame 3"),
        ({"zoom_x_2d": float("nan")}, "zoom_x_2d: evaluates to nan at frame 3"),
        ({"rotate_3d": (0.0, 0.0, 0.0, 0.0)}, "the quaternion is [0, 0, 0, 0] at frame 3"),
        ({"rotate_3d": (1.0, float("inf"), 0.0, 0.0)}, "must be a finite number"),
    ],
)
def test_a_motion_value_that_escapes_validation_halts_the_render_by_name(values, problem):
    from pytti_nb.animation.motion import checked
    from pytti_nb.errors import RenderHalted

    with pytest.raises(RenderHalted) as e:
        checked({"translate_z_3d": 1.0, **values}, 3)
    assert problem in str(e.value)
    assert checked({"translate_x": 1e9, "rotate_3d": (1e-300, 0, 0, 0)}, 3)


RELATIVE = "depth-anything/Depth-Anything-V2-Small-hf"


@pytest.mark.parametrize(
    ("setting", "value", "names"),
    [
        ("translate_z_3d", "mu / 50", "mu"),
        ("translate_x", "0:(0), 10:(R - r)", "r, R"),
        ("rotate_3d", "[1, 0, r / 1e5, 0]", "r"),
    ],
)
def test_the_depth_range_of_a_relative_model_is_refused_naming_what_is_allowed(
    setting, value, names
):
    # the default model is relative: known by its id, before anything is downloaded
    settings = {**BASE, "animation_mode": "3D", "depth_model": RELATIVE, setting: value}
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict(settings), check_models=False)
    [problem] = e.value.problems
    assert problem.startswith(f"{setting}: {value!r} reads {names} ")
    assert f"depth_model {RELATIVE!r} gives relative depth" in problem
    assert "allowed: a metric depth model" in problem and "depth_model none" in problem


def test_metric_and_flat_depth_keep_the_depth_range():
    for model in (MODEL, "none"):
        settings = {**BASE, "animation_mode": "3D", "depth_model": model, "translate_z_3d": "mu"}
        assert plan_run(from_dict(settings), check_models=False).motion


def test_a_model_folders_config_says_whether_its_depth_is_metric(
    tiny_depth_model, tiny_metric_depth_model
):
    settings = {**BASE, "animation_mode": "3D", "translate_z_3d": "R / 100"}
    plan_run(from_dict({**settings, "depth_model": str(tiny_metric_depth_model)}))
    with pytest.raises(SettingsError, match="translate_z_3d: 'R / 100' reads R"):
        plan_run(from_dict({**settings, "depth_model": str(tiny_depth_model)}))


def test_a_model_validation_cannot_know_is_refused_when_it_loads(tiny_depth_model):
    from pytti_nb.animation.animator import CameraAnimator
    from pytti_nb.models.depth import load_depth_model

    # a hub model not downloaded yet: validation passes, the loaded model is found relative
    settings = {**BASE, "animation_mode": "3D", "depth_model": "org/not-downloaded"}
    run_plan = plan_run(from_dict({**settings, "translate_z_3d": "mu"}), check_models=False)
    model = load_depth_model(str(tiny_depth_model), device="cpu")
    with pytest.raises(SettingsError, match="translate_z_3d: 'mu' reads mu"):
        CameraAnimator(run_plan, "cpu", depth_model=model)
    CameraAnimator(plan_run(from_dict(settings), check_models=False), "cpu", depth_model=model)
