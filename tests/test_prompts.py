"""Tests for PyTTI's prompt and scene grammar."""

import math

import pytest

from pytti_nb.errors import ExpressionError, PromptError
from pytti_nb.lang.prompts import (
    ALL,
    Mask,
    Prompt,
    parse_direct_image_prompts,
    parse_prompt,
    parse_scenes,
    parse_target_weight,
)
from pytti_nb.lang.schedules import Constant

INF = math.inf


def summary(prompt: Prompt, t: float = 0.0, frame: float = 0.0) -> tuple:
    """Flatten a parsed prompt to comparable values at one (t, frame)."""
    cutoff = prompt.mask.cutoff
    return (
        prompt.text,
        prompt.image,
        prompt.weight(t, frame),
        prompt.stop(t, frame),
        prompt.mask.kind,
        prompt.mask.path,
        prompt.mask.inverted,
        prompt.mask.text,
        None if cutoff is None else cutoff(t, frame),
    )


# (prompt, (text, image, weight, stop, mask kind, mask path, inverted, mask text, cutoff))
CASES = [
    ("a castle", ("a castle", None, 1.0, -INF, "all", None, False, None, None)),
    ("  a castle  ", ("a castle", None, 1.0, -INF, "all", None, False, None, None)),
    ("a:2:0.5", ("a", None, 2.0, 0.5, "all", None, False, None, None)),
    ("a:-1:-0.9", ("a", None, -1.0, -0.9, "all", None, False, None, None)),
    ("a : 2 : 0.5", ("a", None, 2.0, 0.5, "all", None, False, None, None)),
    ("a:2_a", ("a", None, 2.0, -INF, "all", None, False, None, None)),
    ("a:2_r", ("a", None, 2.0, -INF, "right", None, False, None, None)),
    ("a:2_l_0.3", ("a", None, 2.0, -INF, "left", None, False, None, 0.3)),
    ("a:2_u", ("a", None, 2.0, -INF, "up", None, False, None, None)),
    ("a:2_d_0.1:0.2", ("a", None, 2.0, 0.2, "down", None, False, None, 0.1)),
    ("a:2_n_0.6", ("a", None, 2.0, -INF, "near", None, False, None, 0.6)),
    ("a:2_f", ("a", None, 2.0, -INF, "far", None, False, None, None)),
    ("a:1_[mask.png]", ("a", None, 1.0, -INF, "image", "mask.png", False, None, None)),
    ("a:1_[-mask.png]", ("a", None, 1.0, -INF, "image", "mask.png", True, None, None)),
    ("a:1_[mask.mp4]", ("a", None, 1.0, -INF, "video", "mask.mp4", False, None, None)),
    (
        "sunlight:3_[-mask.MP4]",
        ("sunlight", None, 3.0, -INF, "video", "mask.MP4", True, None, None),
    ),
    (
        "a:1_[my_mask:v2.png]_0.4",
        ("a", None, 1.0, -INF, "image", "my_mask:v2.png", False, None, 0.4),
    ),
    ("dragon:3_baby", ("dragon", None, 3.0, -INF, "semantic", None, False, "baby", None)),
    (
        "dragon:3_baby dragon_0.2",
        ("dragon", None, 3.0, -INF, "semantic", None, False, "baby dragon", 0.2),
    ),
    (
        "[https://x.org/a.png]:3",
        (None, "https://x.org/a.png", 3.0, -INF, "all", None, False, None, None),
    ),
    ("[img.png]:-1:-.95", (None, "img.png", -1.0, -0.95, "all", None, False, None, None)),
    (
        "[ artist signature.png ]",
        (None, "artist signature.png", 1.0, -INF, "all", None, False, None, None),
    ),
    # as PyTTI: a TEXT that starts with '[' and ends with ']' is an image prompt
    ("[a] and [b]:2", (None, "a] and [b", 2.0, -INF, "all", None, False, None, None)),
    ("[a][b]", (None, "a][b", 1.0, -INF, "all", None, False, None, None)),
    # as PyTTI: brackets need not balance, the last field keeps further separators
    ("a (cat", ("a (cat", None, 1.0, -INF, "all", None, False, None, None)),
    ("a (cat:2", ("a (cat", None, 2.0, -INF, "all", None, False, None, None)),
    ("[img.png:2", ("[img.png", None, 2.0, -INF, "all", None, False, None, None)),
    ("cat]:2", ("cat]", None, 2.0, -INF, "all", None, False, None, None)),
    ("cat:1_r_2_3", ("cat", None, 1.0, -INF, "right", None, False, None, 23.0)),
    ("cat:2_r_0.5000873264", ("cat", None, 2.0, -INF, "right", None, False, None, None)),
    # PyTTI cannot run these (WEIGHT '30)', '(10*fHi'): ( ) protect separators
    ("time (12:30):2", ("time (12:30)", None, 2.0, -INF, "all", None, False, None, None)),
    (
        "[Star Wars: A New Hope] poster",
        ("[Star Wars: A New Hope] poster", None, 1.0, -INF, "all", None, False, None, None),
    ),
    ("a_b:1", ("a_b", None, 1.0, -INF, "all", None, False, None, None)),
    ("snake_case_words", ("snake_case_words", None, 1.0, -INF, "all", None, False, None, None)),
    ("castle:sin(t)*2", ("castle", None, 2 * math.sin(0.5), -INF, "all", None, False, None, None)),
    ("castle:1+t:0.1*t", ("castle", None, 1.5, 0.05, "all", None, False, None, None)),
    ("castle:{0:(1), 30:(3)}", ("castle", None, 2.0, -INF, "all", None, False, None, None)),
    (
        "castle:{0:(1), 30:(3)}_r_{0:(0.2), 30:(0.8)}:0.8",
        ("castle", None, 2.0, 0.8, "right", None, False, None, 0.5),
    ),
    ("castle:max(1, 2*t)", ("castle", None, 1.0, -INF, "all", None, False, None, None)),
]


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0] for c in CASES])
def test_prompt_table(text, expected):
    """Each prompt parses to PyTTI's meaning (evaluated at t=0.5, frame 15)."""
    assert summary(parse_prompt(text), t=0.5, frame=15.0) == expected


def test_prompt_source_and_defaults():
    """Defaults are weight 1, stop -inf, mask all with no cutoff; source is stripped."""
    prompt = parse_prompt(" cat ")
    assert prompt.source == "cat"
    assert prompt.weight == Constant(1.0) and prompt.stop == Constant(-INF)
    assert prompt.mask == ALL == Mask("all", None, None, False, None)
    assert prompt == parse_prompt("cat")  # frozen dataclasses compare by value


def test_expression_fields_track_time():
    """Weights, stops and cutoffs are re-evaluated at each t."""
    prompt = parse_prompt("castle:2*t_r_0.1*t:-t")
    assert prompt.weight(1.0) == 2.0 and prompt.weight(2.0) == 4.0
    assert prompt.stop(3.0) == -3.0 and prompt.mask.cutoff(5.0) == 0.5


def test_extra_names_such_as_audio_bands():
    """Caller-supplied names (audio bands) are usable; '_' names need parentheses."""
    prompt = parse_prompt("flowers blooming:(10*fHi_prev)", names=("t", "fHi_prev"))
    assert prompt.weight(0.0, 0.0, fHi_prev=0.3) == pytest.approx(3.0)
    with pytest.raises(PromptError, match="'fHi' is not a known name"):
        parse_prompt("flowers:10*fHi")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "prompt is empty"),
        (
            "cat:2:0.5:9",
            r"too many ':' fields \(TEXT:WEIGHT_MASK_CUTOFF:STOP\).*\n  cat:2:0.5:9\n           \^",
        ),
        ("castle:0:(1), 30:(3)", "write keyframe schedules in braces"),
        (":2", r"TEXT is empty.*\n  :2\n  \^"),
        ("cat:", r"WEIGHT is empty.*\n  cat:\n      \^"),
        ("cat:_r", "WEIGHT is empty"),
        ("cat:2_", "MASK is empty"),
        ("cat:2_r_", "CUTOFF is empty"),
        ("cat:2:", "STOP is empty"),
        ("cat:1_r_2_x y", r"too many '_' fields.*\n  cat:1_r_2_x y\n           \^"),
        ("cat:(2", r"unbalanced '\(': it is never closed\n  cat:\(2\n      \^"),
        ("cat:2)", r"unbalanced '\)': no matching '\('"),
        ("cat:[2", r"unbalanced '\['"),
        ("cat]:(2", r"unbalanced '\]'"),
        ("smile :)", r"unbalanced '\)'"),
        ("cat:{0:(1), 30:(3)", r"unbalanced '\{'"),
        ("[]:2", r"image prompt \[\] names no image"),
        ("cat:1_[-]", "MASK names no file"),
        ("cat|dog", "contains '\\|'"),
        ("cat:1/0", r"prompt 'cat:1/0', WEIGHT: expression '1/0' fails"),
        ("cat:1:foo", r"prompt 'cat:1:foo', STOP: .*'foo' is not a known name"),
        ("cat:1_r_'x'", r"CUTOFF: .*is a string"),
        ("x:__import__('os')", "too many '_' fields"),
        ("x:(__import__('os'))", "calls '__import__', which is not allowed"),
        ("cat:{0:(1), 0:(3)}", "strictly increase"),
    ],
)
def test_prompt_errors(text, fragment):
    """Malformed prompts raise PromptError quoting the prompt and pointing at the field."""
    with pytest.raises(PromptError, match=fragment) as info:
        parse_prompt(text)
    if text:
        assert repr(text) in str(info.value)


def test_expression_errors_are_chained():
    """A bad expression is a PromptError whose cause is the ExpressionError."""
    with pytest.raises(PromptError) as info:
        parse_prompt("cat:sqrt(-1)")
    assert isinstance(info.value.__cause__, ExpressionError)


def test_runtime_errors_name_the_prompt_and_field():
    """Evaluating a failing weight later names the prompt and field."""
    prompt = parse_prompt("castle:1/t")
    with pytest.raises(ExpressionError, match=r"prompt 'castle:1/t', WEIGHT: .* fails at t=0.0"):
        prompt.weight(0.0)


def _texts(scenes):
    """Prompt sources per scene."""
    return [[p.source for p in scene.prompts] for scene in scenes]


def test_scenes_split_and_prefix_suffix():
    """'||' splits scenes, '|' prompts; prefix and suffix wrap every scene."""
    scenes = parse_scenes(
        "castle:2 | moat || dragon:3_baby||", "astrophotography | ", " | text:-1:-.9"
    )
    assert _texts(scenes) == [
        ["astrophotography", "castle:2", "moat", "text:-1:-.9"],
        ["astrophotography", "dragon:3_baby", "text:-1:-.9"],
    ]
    assert [s.index for s in scenes] == [0, 1]
    assert [s.source for s in scenes] == ["castle:2 | moat", "dragon:3_baby"]
    assert scenes[0].prompts[3].weight(0.0) == -1.0 and scenes[0].prompts[3].stop(0.0) == -0.9


@pytest.mark.parametrize(
    "scenes, expected",
    [
        ("a", [["a"]]),
        ("a||b", [["a"], ["b"]]),
        ("|| a ||  || b | | c ||", [["a"], [], ["b", "c"]]),
        ("a | | b", [["a", "b"]]),
        ("a || | || b", [["a"], [], ["b"]]),
        ("a|||b", [["a"], ["b"]]),
        (
            "[https://x.org/a.png]:3 | fractal clouds",
            [["[https://x.org/a.png]:3", "fractal clouds"]],
        ),
    ],
)
def test_scene_splitting(scenes, expected):
    """Exactly empty scenes and empty prompts are dropped; a blank scene has no prompt."""
    assert _texts(parse_scenes(scenes)) == expected


@pytest.mark.parametrize("scenes", ["", "||", "||||"])
def test_empty_scenes_error(scenes):
    """No scene at all is an error that says what to write."""
    with pytest.raises(PromptError, match="scenes is empty"):
        parse_scenes(scenes, prefix="style | ")


def test_blank_scenes_run_the_prefix_alone():
    """As PyTTI, a whitespace-only scene is kept: it runs prefix and suffix alone."""
    scenes = parse_scenes("a|| ||b", "style | ", " | text:-1")
    assert _texts(scenes) == [
        ["style", "a", "text:-1"],
        ["style", "text:-1"],
        ["style", "b", "text:-1"],
    ]
    assert [s.source for s in scenes] == ["a", "", "b"]
    assert _texts(parse_scenes("   ")) == [[]]


def test_scene_errors_quote_the_prompt():
    """A bad prompt inside scenes reports that prompt."""
    with pytest.raises(PromptError, match="prompt 'b:2:3:4'"):
        parse_scenes("a || b:2:3:4")
    with pytest.raises(PromptError, match="scenes must be a string"):
        parse_scenes(None)


# (setting, [(path, weight, stop, mask kind, mask path, inverted)])
DIRECT_CASES = [
    ("", []),
    ("img.png", [("img.png", 1.0, -INF, "all", None, False)]),
    ("img.png:2", [("img.png", 2.0, -INF, "all", None, False)]),
    ("img.png:2:0.1", [("img.png", 2.0, 0.1, "all", None, False)]),
    ("img.png:2_m.png", [("img.png", 2.0, -INF, "image", "m.png", False)]),
    ("img.png:2_-m.png:0.3", [("img.png", 2.0, 0.3, "image", "m.png", True)]),
    ("img.png:2_weight_mask.mp4", [("img.png", 2.0, -INF, "video", "weight_mask.mp4", False)]),
    ("https://x.org/a_b.png:2", [("https://x.org/a_b.png", 2.0, -INF, "all", None, False)]),
    (
        "http://x.org/a.png:2_https://x.org/m_1.png:0.5",
        [("http://x.org/a.png", 2.0, 0.5, "image", "https://x.org/m_1.png", False)],
    ),
    ("[http://h:80/a.png]:3", [("http://h:80/a.png", 3.0, -INF, "all", None, False)]),
    ("C:\\pics\\a.png:2", [("C:\\pics\\a.png", 2.0, -INF, "all", None, False)]),
    ("photo(.png:2", [("photo(.png", 2.0, -INF, "all", None, False)]),
    ("img.png:2_", [("img.png", 2.0, -INF, "all", None, False)]),
    (
        "a.png:1 | b.png:-1:-0.5 |",
        [("a.png", 1.0, -INF, "all", None, False), ("b.png", -1.0, -0.5, "all", None, False)],
    ),
]


@pytest.mark.parametrize(
    "text, expected", DIRECT_CASES, ids=[c[0] or "empty" for c in DIRECT_CASES]
)
def test_direct_image_prompts(text, expected):
    """PATH:WEIGHT_MASK:STOP with URL colons protected, '-' inverting the mask."""
    got = [
        (p.path, p.weight(0.0), p.stop(0.0), p.mask.kind, p.mask.path, p.mask.inverted)
        for p in parse_direct_image_prompts(text)
    ]
    assert got == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("a.png:1:2:3", "too many ':' fields"),
        (":2", "PATH is empty"),
        ("a.png:", "WEIGHT is empty"),
        ("a.png:1:", "STOP is empty"),
        ("a.png:x", "'x' is not a known name"),
    ],
)
def test_direct_image_prompt_errors(text, fragment):
    """Malformed direct image prompts raise PromptError."""
    with pytest.raises(PromptError, match=fragment):
        parse_direct_image_prompts(text)


# (text, pixel, (weight at frames 0 and 15, stop, mask kind, mask path, inverted, cutoff))
WEIGHT_CASES = [
    ("", True, (0.0, 0.0, -INF, "all", None, False, None)),
    ("1:-0.5", True, (1.0, 1.0, -0.5, "all", None, False, None)),
    ("1:-0.5", False, (1.0, 1.0, -0.5, "all", None, False, None)),
    ("0.5_mask.png:-0.3", True, (0.5, 0.5, -0.3, "image", "mask.png", False, None)),
    ("0.5_[-mask.png]", True, (0.5, 0.5, -INF, "image", "mask.png", True, None)),
    ("1_weight_mask.mp4", True, (1.0, 1.0, -INF, "video", "weight_mask.mp4", False, None)),
    ("1_", True, (1.0, 1.0, -INF, "all", None, False, None)),
    ("2_r_0.3:0.1", False, (2.0, 2.0, 0.1, "right", None, False, 0.3)),
    ("0.5_baby", False, (0.5, 0.5, -INF, "semantic", None, False, None)),
    ("0:1", True, (0.0, 0.0, 1.0, "all", None, False, None)),
    ("{0:(1), 30:(3)}:-0.5", True, (1.0, 2.0, -0.5, "all", None, False, None)),
    ("0:(1), 30:(3)", True, (1.0, 2.0, -INF, "all", None, False, None)),
    ("0:(1), 30:(3)", False, (1.0, 2.0, -INF, "all", None, False, None)),
    ("(10*t_x)_m.png", True, (0.0, 0.0, -INF, "image", "m.png", False, None)),
]


@pytest.mark.parametrize("text, pixel, expected", WEIGHT_CASES)
def test_target_weights(text, pixel, expected):
    """Weight settings: PyTTI's WEIGHT_MASK:STOP, keyframes with or without braces."""
    w = parse_target_weight(text, pixel=pixel, names=("t", "t_x"))
    cutoff = None if w.mask.cutoff is None else w.mask.cutoff(0.0)
    got = (w.weight(0.0, 0.0, t_x=0), w.weight(0.0, 15.0, t_x=0), w.stop(0.0), w.mask.kind)
    assert (*got, w.mask.path, w.mask.inverted, cutoff) == expected


@pytest.mark.parametrize(
    "text, pixel, fragment",
    [
        ("1:2:3", True, r"weight '1:2:3': too many ':' fields \(WEIGHT_MASK:STOP\)"),
        ("1_r_2_x y", False, "too many '_' fields"),
        ("1_x]", False, r"unbalanced '\]'"),
        ("_m.png", True, "WEIGHT is empty"),
        ("1:", True, "STOP is empty"),
    ],
)
def test_target_weight_errors(text, pixel, fragment):
    """Malformed weight settings say 'weight', not 'prompt'."""
    with pytest.raises(PromptError, match=fragment):
        parse_target_weight(text, pixel=pixel)
