"""What `pytti_nb validate` reports for a long bad setting stays short and still names it.

Each case gives one setting a bad value thousands of characters long (yet within the
settings' own length limits, so it reaches the parser behind them) and checks every problem
the validation lists: shorter than MAX_MESSAGE characters, and naming the setting. A parser
that quotes the whole value (`{value!r}` instead of `shown(value)`) fails its case.
"""

import pytest

from pytti_nb.config.plan import plan_dict
from pytti_nb.config.schema import schema_by_name
from pytti_nb.config.values import MAX_OTHER_TEXT, MAX_TEXT
from pytti_nb.errors import PyttiError, SettingsError
from pytti_nb.lang.expressions import MAX_LENGTH

MAX_MESSAGE = 400  # characters of one problem line
LONG = 4000  # characters of a long bad value (every case stays within its setting's limit)

# a missing path far longer than a message, of short components (a component over 255
# characters is a different error: the OS refuses to look at all)
MISSING = "/nonexistent-pytti-nb/" + "/".join(["d" * 100] * 38) + "/x"
TOO_LONG = "/tmp/" + "n" * 300  # one name over the 255 bytes every file system allows
BAND = {"variable_name": "fLo", "f_center": 80, "f_width": 40}
SCHEDULE = ", ".join(f"{i}:(1)" for i in range(1000))  # a long valid keyframe schedule


def _vqgan_config(tmp_path):
    """A taming config (and a checkpoint beside it) whose model target is long and unknown."""
    (tmp_path / "m.yaml").write_text("model:\n  target: " + "x" * LONG + "\n")
    (tmp_path / "m.ckpt").write_bytes(b"")
    return {"image_model": "VQGAN", "vqgan_model": str(tmp_path / "m.yaml")}


CASES = {
    # scenes: a bad weight, a weight naming nothing known, a mask image that is not there
    "scene weight syntax": ("scenes", {"scenes": "a red circle:" + "1+" * LONG + "*"}),
    "scene weight name": ("scenes", {"scenes": "a red circle:" + "q" * LONG}),
    "scene mask missing": ("mask of prompt", {"scenes": f"a red circle:1_[{MISSING}.png]"}),
    # schedules and motion at the longest expression allowed
    "schedule syntax": (
        "smoothing_weight",
        {"smoothing_weight": "t+" * (MAX_LENGTH // 2 - 1) + "+"},
    ),
    "schedule unknown name": (
        "smoothing_weight",
        {"smoothing_weight": "t*0+" + "z" * (MAX_LENGTH - 4)},
    ),
    "schedule unknown call": (
        "smoothing_weight",
        {"smoothing_weight": "z" * (MAX_LENGTH - 3) + "(t)"},
    ),
    "schedule bad keyframe": ("smoothing_weight", {"smoothing_weight": SCHEDULE + ", x:(2)"}),
    "schedule keyframe order": ("smoothing_weight", {"smoothing_weight": SCHEDULE + ", 5:(2)"}),
    "motion syntax": (
        "translate_x",
        {"animation_mode": "2D", "translate_x": "t+" * (MAX_LENGTH // 2 - 1) + "+"},
    ),
    "motion unknown name": (
        "zoom_x_2d",
        {"animation_mode": "2D", "zoom_x_2d": "1+t*0+" + "z" * (MAX_LENGTH - 6)},
    ),
    "quaternion components": ("rotate_3d", {"rotate_3d": "[" + "1, " * 3000 + "0]"}),
    "quaternion expression": ("rotate_3d", {"rotate_3d": "[1, 0, 0, " + "0+" * LONG + "]"}),
    # weights
    "pixel weight": ("direct_init_weight", {"direct_init_weight": "1+" * LONG + "*"}),
    "clip weight": (
        "semantic_init_weight",
        {"init_image": "", "semantic_init_weight": "1_" + "(" * LONG},
    ),
    # media paths that do not exist
    "init_image missing": ("init_image", {"init_image": MISSING + ".png"}),
    "input_audio missing": (
        "input_audio",
        {"input_audio": MISSING + ".wav", "input_audio_filters": [BAND]},
    ),
    "video_path missing": (
        "video_path",
        {"animation_mode": "Video Source", "video_path": MISSING + ".mp4", "flow_model": "dis"},
    ),
    # audio filters
    "audio filter order": (
        "input_audio_filters",
        {"input_audio_filters": [{**BAND, "order": 10**LONG}]},
    ),
    "audio filter number": (
        "input_audio_filters",
        {"input_audio_filters": [{**BAND, "f_center": 10**LONG}]},
    ),
    # perceptors
    "perceptor unknown model": ("perceptors", {"perceptors": ["demo", "Q" * LONG]}),
    "perceptor hub": ("perceptors", {"perceptors": ["demo", "hf-hub:" + "x" * LONG]}),
    "perceptor local-dir": ("perceptors", {"perceptors": ["demo", "local-dir:" + MISSING]}),
    # image models
    "image_model unknown": ("image_model", {"image_model": "X" * LONG}),
    "vqgan_model unknown": ("vqgan_model", {"image_model": "VQGAN", "vqgan_model": "z" * LONG}),
    "vqgan_model missing": (
        "vqgan_model",
        {"image_model": "VQGAN", "vqgan_model": MISSING + ".ckpt"},
    ),
    "vqgan_model config": ("vqgan_model", _vqgan_config),
    "depth_model unknown": ("depth_model", {"animation_mode": "3D", "depth_model": "q" * LONG}),
    # names no file system holds: the OS refuses to look them up (ENAMETOOLONG), so each is
    # a clear problem, never an OSError from deep inside a check
    "init_image name too long": ("init_image", {"init_image": TOO_LONG + ".png"}),
    "target_palette name too long": (
        "target_palette",
        {"image_model": "Limited Palette", "target_palette": TOO_LONG + ".png"},
    ),
    "video_path name too long": (
        "video_path",
        {"animation_mode": "Video Source", "video_path": TOO_LONG + ".mp4", "flow_model": "dis"},
    ),
    "input_audio name too long": (
        "input_audio",
        {"input_audio": TOO_LONG + ".wav", "input_audio_filters": [BAND]},
    ),
    "models_cache_dir name too long": ("models_cache_dir", {"models_cache_dir": TOO_LONG}),
    "image prompt name too long": ("image prompt", {"scenes": f"[{TOO_LONG}.png]:1"}),
    "mask name too long": ("mask of prompt", {"scenes": f"a red circle:1_[{TOO_LONG}.png]"}),
    "vqgan_model name too long": (
        "vqgan_model",
        {"image_model": "VQGAN", "vqgan_model": TOO_LONG + ".ckpt"},
    ),
    "depth_model name too long": (
        "depth_model",
        {"animation_mode": "3D", "depth_model": TOO_LONG},
    ),
}


def _problems(data) -> list[str]:
    """The problem lines `pytti_nb validate` prints for a settings mapping (none if valid)."""
    try:
        plan_dict(data)
    except SettingsError as e:
        return e.problems
    except PyttiError as e:
        return str(e).splitlines()
    return []


@pytest.mark.parametrize("case", list(CASES))
def test_long_bad_value_gives_short_problems_naming_the_setting(case, tiny, tmp_path):
    setting, extra = CASES[case]
    if callable(extra):
        extra = extra(tmp_path)
    data = {**tiny, **extra}
    for name, value in extra.items():  # the value is within the setting's own limits
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                kind = schema_by_name()[name].kind
                assert len(text) <= MAX_TEXT.get(kind, MAX_OTHER_TEXT)
    problems = _problems(data)
    assert problems, f"{case}: the bad value was accepted"
    assert any(setting in p for p in problems), problems
    for p in problems:
        assert len(p) < MAX_MESSAGE, f"{case}: a {len(p)}-character problem: {p[:300]}..."
