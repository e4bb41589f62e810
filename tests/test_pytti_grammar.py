"""PyTTI's own parse of prompts, scenes and weight settings, against ours.

The oracle below copies PyTTI's pure parsing code (pytti-tools/pytti-core at b5070aa,
src/pytti; file and line numbers in each docstring) without torch: the splits, defaults and
tests run as written there; only the objects PyTTI would build (CLIP embeddings, masks,
losses) are replaced by what they are built from. The tables further down are literal: a
throwaway script called pytti_prompt, pytti_scenes, pytti_weight and pytti_pixel on each
input once and printed the repr() of the results; test_tables_are_the_oracles_output re-runs
the oracle on every input and must reproduce them exactly. Every row is one PyTTI can run
(every field it eval()s evaluates at t=0); pytti_nb must give the same texts, weights,
stops, masks, cutoffs and scene counts.
"""

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytti_nb.errors import PromptError
from pytti_nb.lang.prompts import (
    VIDEO_EXTENSIONS,
    parse_direct_image_prompts,
    parse_prompt,
    parse_scenes,
    parse_target_weight,
)
from pytti_nb.lang.schedules import parse_time_value

# --- oracle: PyTTI's code --------------------------------------------------------------


def pytti_parse(string, split, defaults):
    """eval_tools.py parse() (lines 73-88)."""
    tokens = re.split(split, string, len(defaults) - 1)  # noqa: B034 (PyTTI's line, verbatim)
    tokens = tokens + defaults[len(tokens) :]
    return tokens


MASK_DICT = ("a", "r", "l", "d", "u", "n", "f")  # Prompt.py MASK_DICT keys (lines 178-186)


def pytti_make_mask(mask):
    """Prompt.py make_mask (lines 40-47) and Rotoscoper/mask_image's '-' (rotoscoper.py
    80-84, Prompt.py 97-101): (kind, path, inverted, semantic text)."""
    if mask[0] == "[" and mask[-1] == "]":
        path = mask[1:-1]
        inverted = path[0] == "-"
        path = path[1:] if inverted else path
        return ("video" if mask[-5:-1] == ".mp4" else "image"), path, inverted, None
    if mask in MASK_DICT:
        return mask, None, False, None
    return "semantic", None, False, mask


def pytti_prompt(prompt_string):
    """Prompt.py parse_prompt (lines 203-215): text, image, weight, stop, mask, cutoff."""
    text, weight, stop = pytti_parse(prompt_string, r":(?![^\[]*\])", ["", "1", "-inf"])
    weight, mask, cutoff = pytti_parse(weight, r"_(?![^\[]*\])", ["1", "a", "0.5000873264"])
    text = text.strip()
    kind, path, inverted, mask_text = pytti_make_mask(mask.strip())
    image = None
    if text[0] == "[" and text[-1] == "]":
        image = text[1:-1].strip()
    return (
        None if image is not None else text,
        image,
        weight,
        stop,
        kind,
        path,
        inverted,
        mask_text,
        cutoff,
    )


def pytti_scenes(scenes, scene_prefix, scene_suffix):
    """workhorse.py parse_scenes (lines 113-121), with the prompt strings parse_prompt gets."""
    return [
        [p.strip() for p in (scene_prefix + stage + scene_suffix).strip().split("|") if p.strip()]
        for stage in scenes.split("||")
        if stage
    ]


def pytti_pixel(prompt_string):
    """LossAug/MSELossClass.py TargetImage (lines 41-46) and set_mask (68-76), with the
    Rotoscoper's own '-' test (rotoscoper.py 80-84): path, weight, stop, mask."""
    text, weight, stop = pytti_parse(prompt_string, r"(?<!^http)(?<!s):|:(?!/)", ["", "1", "-inf"])
    weight, mask = pytti_parse(weight, r"_", ["1", ""])
    text = text.strip()
    mask = mask.strip()
    kind, inverted = None, False
    if mask != "":
        if mask[0] == "-":
            mask = mask[1:]
            inverted = True
        kind = "image"
        if mask.strip()[-4:] == ".mp4":
            kind, inverted = "video", mask[0] == "-"  # Rotoscoper(mask) forgets `inverted`
    return text, weight, stop, kind, mask if kind else None, inverted


# the strings PyTTI builds around each weight setting (LossOrchestratorClass.py
# configure_init_image 59-77, configure_stabilization_augs 91-99, build_loss 22-34,
# configure_optical_flows 110-113; workhorse.py 406-410)
WEIGHT_STRINGS = {
    "direct_init_weight": ("pixel", "direct init image (init.png):{}"),
    "semantic_init_weight": ("clip", "init image [init.png]:{}"),
    "direct_stabilization_weight": ("pixel", "direct stabilization:{}"),
    "depth_stabilization_weight": ("pixel", "depth stabilization:{}"),
    "edge_stabilization_weight": ("pixel", "edge stabilization:{}"),
    "flow_stabilization_weight": ("pixel", "optical flow stabilization (frame -1):{}"),
    "semantic_stabilization_weight": ("clip", "stabilization:{}"),
}


def pytti_weight(setting, text):
    """A weight setting as PyTTI parses it: 'off' for '' and '0', else weight, stop, mask."""
    if text in ["", "0"]:
        return "off"
    kind, template = WEIGHT_STRINGS[setting]
    if kind == "pixel":
        return pytti_pixel(template.format(text))[1:]
    _, _, weight, stop, mask, path, inverted, mask_text, cutoff = pytti_prompt(
        template.format(text)
    )
    return weight, stop, mask, path, inverted, mask_text, cutoff


BANDS = {"fHi": 0.3, "fLo": 0.7}
NAMES = ("t", *BANDS, *(f"{b}_prev" for b in BANDS))
VALUES = {**BANDS, **{f"{b}_prev": v / 2 for b, v in BANDS.items()}}


def pytti_eval(string):
    """eval_tools.py parametric_eval (lines 14-46) at t=0 with the audio bands of VALUES."""
    env = {"abs": abs, "max": max, "min": min, "pow": pow, "round": round, "np": np}
    env["__builtins__"] = None
    env.update({key: getattr(math, key) for key in dir(math) if "_" not in key})
    env.update(VALUES, t=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings of odd fields
        return eval(string, env)


# --- the tables: printed by the oracle above (see the module docstring) ---------------

# prompt -> PyTTI's (text, image, WEIGHT, STOP, MASK, mask path, inverted, mask text, CUTOFF)
PROMPTS = [
    ("a castle", ("a castle", None, "1", "-inf", "a", None, False, None, "0.5000873264")),
    ("blue sky:10", ("blue sky", None, "10", "-inf", "a", None, False, None, "0.5000873264")),
    ("red sky:-1", ("red sky", None, "-1", "-inf", "a", None, False, None, "0.5000873264")),
    ("birds:1:0.87", ("birds", None, "1", "0.87", "a", None, False, None, "0.5000873264")),
    ("scales:-1:-.9", ("scales", None, "-1", "-.9", "a", None, False, None, "0.5000873264")),
    ("text:-1:-.95", ("text", None, "-1", "-.95", "a", None, False, None, "0.5000873264")),
    (
        "dragon:3_baby",
        ("dragon", None, "3", "-inf", "semantic", None, False, "baby", "0.5000873264"),
    ),
    (
        "sunlight:3_[mask.mp4]",
        ("sunlight", None, "3", "-inf", "video", "mask.mp4", False, None, "0.5000873264"),
    ),
    (
        "midnight:3_[-mask.mp4]",
        ("midnight", None, "3", "-inf", "video", "mask.mp4", True, None, "0.5000873264"),
    ),
    (
        "[artist signature.png]:-1:-.95",
        (None, "artist signature.png", "-1", "-.95", "a", None, False, None, "0.5000873264"),
    ),
    (
        "[https://i.redd.it/ewpeykozy7e71.png]:3",
        (
            None,
            "https://i.redd.it/ewpeykozy7e71.png",
            "3",
            "-inf",
            "a",
            None,
            False,
            None,
            "0.5000873264",
        ),
    ),
    (
        "flowers blooming: 10*fHi",
        ("flowers blooming", None, " 10*fHi", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "coloful sparks: (fHi+fLo)",
        ("coloful sparks", None, " (fHi+fLo)", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "ominous: fLo/(fLo + fHi)",
        ("ominous", None, " fLo/(fLo + fHi)", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "space full of cybernetic neon:3_galactic nebula",
        (
            "space full of cybernetic neon",
            None,
            "3",
            "-inf",
            "semantic",
            None,
            False,
            "galactic nebula",
            "0.5000873264",
        ),
    ),
    (
        "astrophotography #pixelart",
        ("astrophotography #pixelart", None, "1", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "castle:sin(t)*2",
        ("castle", None, "sin(t)*2", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "castle:sin(t+1)*2:0.5*cos(t)",
        ("castle", None, "sin(t+1)*2", "0.5*cos(t)", "a", None, False, None, "0.5000873264"),
    ),
    ("castle:2_r_0.3", ("castle", None, "2", "-inf", "r", None, False, None, "0.3")),
    ("castle:2_l", ("castle", None, "2", "-inf", "l", None, False, None, "0.5000873264")),
    ("castle:2_u_0.25:0.1", ("castle", None, "2", "0.1", "u", None, False, None, "0.25")),
    ("castle:2_d_0.7", ("castle", None, "2", "-inf", "d", None, False, None, "0.7")),
    ("castle:2_n_0.4", ("castle", None, "2", "-inf", "n", None, False, None, "0.4")),
    ("castle:2_f", ("castle", None, "2", "-inf", "f", None, False, None, "0.5000873264")),
    ("castle:2_a", ("castle", None, "2", "-inf", "a", None, False, None, "0.5000873264")),
    (
        "castle:1_[mask.png]",
        ("castle", None, "1", "-inf", "image", "mask.png", False, None, "0.5000873264"),
    ),
    (
        "castle:1_[-mask.png]",
        ("castle", None, "1", "-inf", "image", "mask.png", True, None, "0.5000873264"),
    ),
    (
        "castle:1_[masks/my_mask.png]_0.4",
        ("castle", None, "1", "-inf", "image", "masks/my_mask.png", False, None, "0.4"),
    ),
    (
        "castle:1_[C:/art/a:b.png]",
        ("castle", None, "1", "-inf", "image", "C:/art/a:b.png", False, None, "0.5000873264"),
    ),
    (
        "[C:/art/a:b.png]:1",
        (None, "C:/art/a:b.png", "1", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "[https://example.com/a_b:c.png]:2:0.5",
        (None, "https://example.com/a_b:c.png", "2", "0.5", "a", None, False, None, "0.5000873264"),
    ),
    (
        "[https://example.com/img.png?x=1&y=2_z]",
        (
            None,
            "https://example.com/img.png?x=1&y=2_z",
            "1",
            "-inf",
            "a",
            None,
            False,
            None,
            "0.5000873264",
        ),
    ),
    (
        "snake_case_words",
        ("snake_case_words", None, "1", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    ("a_b:1", ("a_b", None, "1", "-inf", "a", None, False, None, "0.5000873264")),
    ("my_prompt:2_r", ("my_prompt", None, "2", "-inf", "r", None, False, None, "0.5000873264")),
    ("a (cat", ("a (cat", None, "1", "-inf", "a", None, False, None, "0.5000873264")),
    ("a (cat:2", ("a (cat", None, "2", "-inf", "a", None, False, None, "0.5000873264")),
    ("a {cat:2", ("a {cat", None, "2", "-inf", "a", None, False, None, "0.5000873264")),
    ("cat]:2", ("cat]", None, "2", "-inf", "a", None, False, None, "0.5000873264")),
    ("[img.png:2", ("[img.png", None, "2", "-inf", "a", None, False, None, "0.5000873264")),
    ("[a] and [b]:2", (None, "a] and [b", "2", "-inf", "a", None, False, None, "0.5000873264")),
    ("[a][b]", (None, "a][b", "1", "-inf", "a", None, False, None, "0.5000873264")),
    (
        "[[Category: Featured Pictures]]",
        (
            None,
            "[Category: Featured Pictures]",
            "1",
            "-inf",
            "a",
            None,
            False,
            None,
            "0.5000873264",
        ),
    ),
    (
        "[Star Wars: A New Hope] poster",
        (
            "[Star Wars: A New Hope] poster",
            None,
            "1",
            "-inf",
            "a",
            None,
            False,
            None,
            "0.5000873264",
        ),
    ),
    (
        "castle:1_[a][b]",
        ("castle", None, "1", "-inf", "image", "a][b", False, None, "0.5000873264"),
    ),
    ("cat:1_r_2_3", ("cat", None, "1", "-inf", "r", None, False, None, "2_3")),
    ("castle:2_r_fHi_prev", ("castle", None, "2", "-inf", "r", None, False, None, "fHi_prev")),
    (
        "castle:fHi_prev",
        ("castle", None, "fHi", "-inf", "semantic", None, False, "prev", "0.5000873264"),
    ),
    ("a (b:2_c) d", ("a (b", None, "2", "-inf", "semantic", None, False, "c) d", "0.5000873264")),
    ("castle:  2 : 0.5 ", ("castle", None, "  2 ", " 0.5", "a", None, False, None, "0.5000873264")),
    ("castle:1:-inf", ("castle", None, "1", "-inf", "a", None, False, None, "0.5000873264")),
    ("castle:0", ("castle", None, "0", "-inf", "a", None, False, None, "0.5000873264")),
    ("castle:-0.5:-0.9", ("castle", None, "-0.5", "-0.9", "a", None, False, None, "0.5000873264")),
    (
        "castle:2_baby dragon_0.2",
        ("castle", None, "2", "-inf", "semantic", None, False, "baby dragon", "0.2"),
    ),
    (
        "castle:max(1, 2*t)",
        ("castle", None, "max(1, 2*t)", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "castle:1 if t < 3 else 0.5",
        ("castle", None, "1 if t < 3 else 0.5", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "castle:2_r_0.5000873264",
        ("castle", None, "2", "-inf", "r", None, False, None, "0.5000873264"),
    ),
    (
        "castle:2_[mask.mp4]_0.3",
        ("castle", None, "2", "-inf", "video", "mask.mp4", False, None, "0.3"),
    ),
    ("[photo.png]:2_r", (None, "photo.png", "2", "-inf", "r", None, False, None, "0.5000873264")),
    (
        "[ artist signature.png ]",
        (None, "artist signature.png", "1", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    ("castle:2e-1", ("castle", None, "2e-1", "-inf", "a", None, False, None, "0.5000873264")),
    ("castle:.5", ("castle", None, ".5", "-inf", "a", None, False, None, "0.5000873264")),
    ("castle: 1_ r", ("castle", None, " 1", "-inf", "r", None, False, None, "0.5000873264")),
    (
        "castle:1_[mask.png]:0.2",
        ("castle", None, "1", "0.2", "image", "mask.png", False, None, "0.5000873264"),
    ),
    ("castle:(1+2)*t", ("castle", None, "(1+2)*t", "-inf", "a", None, False, None, "0.5000873264")),
    (
        "castle:round(2.6)",
        ("castle", None, "round(2.6)", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    ("castle:pi/2", ("castle", None, "pi/2", "-inf", "a", None, False, None, "0.5000873264")),
    (
        "castle:1_ [mask.png] ",
        ("castle", None, "1", "-inf", "image", "mask.png", False, None, "0.5000873264"),
    ),
    (
        "hopeful: fHi/(fLo + fHi)",
        ("hopeful", None, " fHi/(fLo + fHi)", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    ("castle:1_r_0.1*t:-t", ("castle", None, "1", "-t", "r", None, False, None, "0.1*t")),
    (
        "a (night) sky:2",
        ("a (night) sky", None, "2", "-inf", "a", None, False, None, "0.5000873264"),
    ),
    (
        "castle:(2)_(r)",
        ("castle", None, "(2)", "-inf", "semantic", None, False, "(r)", "0.5000873264"),
    ),
    (
        "castle:2_semantic (mask)_0.4",
        ("castle", None, "2", "-inf", "semantic", None, False, "semantic (mask)", "0.4"),
    ),
]
# (scenes, scene_prefix, scene_suffix) -> the prompt strings of each scene
SCENES = [
    (
        (
            "Winter sunrise | icy landscape || Winter day | snowy skyline || Winter sunset | chilly air || Winter night | clear sky",
            "",
            "",
        ),
        [
            ["Winter sunrise", "icy landscape"],
            ["Winter day", "snowy skyline"],
            ["Winter sunset", "chilly air"],
            ["Winter night", "clear sky"],
        ],
    ),
    (
        ("blue sky:10|martian landscape|red sky:-1", "", ""),
        [["blue sky:10", "martian landscape", "red sky:-1"]],
    ),
    (
        ("Feathered dinosaurs|birds:1:0.87|scales:-1:-.9|text:-1:-.9", "", ""),
        [["Feathered dinosaurs", "birds:1:0.87", "scales:-1:-.9", "text:-1:-.9"]],
    ),
    (
        ("Khaleesi Daenerys Targaryen | mother of dragons | dragon:3_baby", "", ""),
        [["Khaleesi Daenerys Targaryen", "mother of dragons", "dragon:3_baby"]],
    ),
    (
        (
            "[artist signature.png]:-1:-.95|[https://i.redd.it/ewpeykozy7e71.png]:3|fractal clouds|hole in the sky",
            "",
            "",
        ),
        [
            [
                "[artist signature.png]:-1:-.95",
                "[https://i.redd.it/ewpeykozy7e71.png]:3",
                "fractal clouds",
                "hole in the sky",
            ]
        ],
    ),
    (
        ("sunlight:3_[mask.mp4]|midnight:3_[-mask.mp4]", "", ""),
        [["sunlight:3_[mask.mp4]", "midnight:3_[-mask.mp4]"]],
    ),
    (
        (
            "deep space habitation ring made of glass | galactic nebula | wow! space is full of fractal creatures darting around everywhere like fireflies",
            "astrophotography #pixelart | image credit nasa | space full of cybernetic neon:3_galactic nebula | isometric pixelart by Sachin Teng | ",
            "| satellite image:-1:-.95 | text:-1:-.95 | anime:-1:-.95 | watermark:-1:-.95 | backyard telescope:-1:-.95 | map:-1:-.95",
        ),
        [
            [
                "astrophotography #pixelart",
                "image credit nasa",
                "space full of cybernetic neon:3_galactic nebula",
                "isometric pixelart by Sachin Teng",
                "deep space habitation ring made of glass",
                "galactic nebula",
                "wow! space is full of fractal creatures darting around everywhere like fireflies",
                "satellite image:-1:-.95",
                "text:-1:-.95",
                "anime:-1:-.95",
                "watermark:-1:-.95",
                "backyard telescope:-1:-.95",
                "map:-1:-.95",
            ]
        ],
    ),
    (
        (
            " a photograph of a beautiful spring day:2 | flowers blooming: 10*fHi |\ncoloful sparks: (fHi+fLo) | sun rays: fHi | forest: fLo |\nominous: fLo/(fLo + fHi) | hopeful: fHi/(fLo + fHi) | ",
            "",
            "",
        ),
        [
            [
                "a photograph of a beautiful spring day:2",
                "flowers blooming: 10*fHi",
                "coloful sparks: (fHi+fLo)",
                "sun rays: fHi",
                "forest: fLo",
                "ominous: fLo/(fLo + fHi)",
                "hopeful: fHi/(fLo + fHi)",
            ]
        ],
    ),
    (
        (
            "a photograph of a beautiful spring day:2 ||  a photograph of a snowy winter day:2 ",
            "",
            "",
        ),
        [["a photograph of a beautiful spring day:2"], ["a photograph of a snowy winter day:2"]],
    ),
    (
        (
            "a photograph of a bright and beautiful spring day, by Trey Ratcliff",
            "",
            " | text:-1:-.9 | watermark:-1:-.9",
        ),
        [
            [
                "a photograph of a bright and beautiful spring day, by Trey Ratcliff",
                "text:-1:-.9",
                "watermark:-1:-.9",
            ]
        ],
    ),
    (
        ("swirling clouds:2 | swirling wormhole | inner workings of the mind", "", ""),
        [["swirling clouds:2", "swirling wormhole", "inner workings of the mind"]],
    ),
    (("a|| ||b", "", ""), [["a"], [], ["b"]]),
    (("a|| ||b", "style | ", ""), [["style", "a"], ["style"], ["style", "b"]]),
    (
        ("a|| ||b", "", " | text:-1:-.9"),
        [["a", "text:-1:-.9"], ["text:-1:-.9"], ["b", "text:-1:-.9"]],
    ),
    (("a||||b", "", ""), [["a"], ["b"]]),
    (("a|||b", "", ""), [["a"], ["b"]]),
    (("a|||||b", "", ""), [["a"], ["b"]]),
    (("|| a ||  || b | | c ||", "", ""), [["a"], [], ["b", "c"]]),
    (("a || | || b", "", ""), [["a"], [], ["b"]]),
    (
        ("a || | || b", "style:2 |", "| text:-1:-.9"),
        [
            ["style:2", "a", "text:-1:-.9"],
            ["style:2", "text:-1:-.9"],
            ["style:2", "b", "text:-1:-.9"],
        ],
    ),
    (("   ", "", ""), [[]]),
    (("   ", "style | ", ""), [["style"]]),
    (("a||\t||b", "", ""), [["a"], [], ["b"]]),
    (("\n a \n||\n b \n", "", ""), [["a"], ["b"]]),
    (("a||", "", " | text:-1:-.9"), [["a", "text:-1:-.9"]]),
    (("a || b", "astrophotography | ", ""), [["astrophotography", "a"], ["astrophotography", "b"]]),
    (("a || b", " | ", " | "), [["a"], ["b"]]),
    (("a|b||c", "x:2|", "|y:-1:-0.5"), [["x:2", "a", "b", "y:-1:-0.5"], ["x:2", "c", "y:-1:-0.5"]]),
]
# (setting, text) -> 'off', or pixel: (WEIGHT, STOP, mask kind, path, inverted),
# clip: (WEIGHT, STOP, MASK, mask path, inverted, mask text, CUTOFF)
WEIGHTS = [
    (("direct_init_weight", "1:-0.5"), ("1", "-0.5", None, None, False)),
    (("direct_init_weight", "1"), ("1", "-inf", None, None, False)),
    (("direct_init_weight", "0.5_mask.png"), ("0.5", "-inf", "image", "mask.png", False)),
    (("direct_init_weight", "0.5_-mask.png:-0.3"), ("0.5", "-0.3", "image", "mask.png", True)),
    (
        ("direct_stabilization_weight", "1_weight_mask.mp4"),
        ("1", "-inf", "video", "weight_mask.mp4", False),
    ),
    (
        ("edge_stabilization_weight", "2*(1 + (1+sin(t))**2)"),
        ("2*(1 + (1+sin(t))**2)", "-inf", None, None, False),
    ),
    (("depth_stabilization_weight", "0.3"), ("0.3", "-inf", None, None, False)),
    (("flow_stabilization_weight", "10:-0.1"), ("10", "-0.1", None, None, False)),
    (("semantic_init_weight", "1:-0.5"), ("1", "-0.5", "a", None, False, None, "0.5000873264")),
    (("semantic_init_weight", "2_r_0.3:0.1"), ("2", "0.1", "r", None, False, None, "0.3")),
    (
        ("semantic_stabilization_weight", "0.5_baby"),
        ("0.5", "-inf", "semantic", None, False, "baby", "0.5000873264"),
    ),
    (
        ("semantic_stabilization_weight", "1_[mask.mp4]"),
        ("1", "-inf", "video", "mask.mp4", False, None, "0.5000873264"),
    ),
    (
        ("semantic_stabilization_weight", "1_[-mask.png]:-0.2"),
        ("1", "-0.2", "image", "mask.png", True, None, "0.5000873264"),
    ),
    (
        ("direct_init_weight", "1_https://example.com/m_1.png:0.5"),
        ("1", "0.5", "image", "https://example.com/m_1.png", False),
    ),
    (("direct_init_weight", ""), "off"),
    (("direct_stabilization_weight", "0"), "off"),
    (
        ("semantic_init_weight", "0.5 : -0.2"),
        ("0.5 ", " -0.2", "a", None, False, None, "0.5000873264"),
    ),
    (
        ("direct_stabilization_weight", "sin(t)_mask.png"),
        ("sin(t)", "-inf", "image", "mask.png", False),
    ),
    (("direct_init_weight", "0:1"), ("0", "1", None, None, False)),
    (
        ("semantic_stabilization_weight", "fHi_prev"),
        ("fHi", "-inf", "semantic", None, False, "prev", "0.5000873264"),
    ),
    (("edge_stabilization_weight", "(fHi)"), ("(fHi)", "-inf", None, None, False)),
]
# direct_image_prompts -> per prompt (path, WEIGHT, STOP, mask kind, mask path, inverted)
DIRECT = [
    ("img.png:2_m.png:0.3", [("img.png", "2", "0.3", "image", "m.png", False)]),
    ("https://x.org/a_b.png:2", [("https://x.org/a_b.png", "2", "-inf", None, None, False)]),
    (
        "http://x.org/a.png:2_https://x.org/m_1.png:0.5",
        [("http://x.org/a.png", "2", "0.5", "image", "https://x.org/m_1.png", False)],
    ),
    (
        "a.png:1 | b.png:-1:-0.5 |",
        [("a.png", "1", "-inf", None, None, False), ("b.png", "-1", "-0.5", None, None, False)],
    ),
    ("photo (1).png:2", [("photo (1).png", "2", "-inf", None, None, False)]),
    ("photo(.png:2", [("photo(.png", "2", "-inf", None, None, False)]),
    ("img.png:2_weight_mask.mp4", [("img.png", "2", "-inf", "video", "weight_mask.mp4", False)]),
    ("img.png:-1:-0.5", [("img.png", "-1", "-0.5", None, None, False)]),
    ("my_img.png:0.5_-my_mask.png", [("my_img.png", "0.5", "-inf", "image", "my_mask.png", True)]),
]


# --- pytti_nb against the tables -------------------------------------------------------

LETTERS = {"a": "all", "r": "right", "l": "left", "u": "up", "d": "down", "n": "near", "f": "far"}


def ours_value(value):
    """Our time value as (text, value at t=0 with the audio bands)."""
    return value.text, value(0.0, 0.0, **VALUES)


def pytti_value(string):
    """PyTTI's field as (the text it evals, less the spaces eval ignores; its value at t=0)."""
    return string.strip(), pytti_eval(string)


def expected_mask(kind, path, inverted, text, cutoff):
    """PyTTI's mask in our terms; its sentinel CUTOFF is our None."""
    cut = None if cutoff == "0.5000873264" else pytti_value(cutoff)
    return LETTERS.get(kind, kind), path, inverted, text, cut


def ours_mask(mask):
    """Our mask in the same terms."""
    cut = None if mask.cutoff is None else ours_value(mask.cutoff)
    return mask.kind, mask.path, mask.inverted, mask.text, cut


def expected_prompt(row):
    """A PROMPTS row in our terms."""
    text, image, weight, stop, *mask = row
    return text, image, pytti_value(weight), pytti_value(stop), expected_mask(*mask)


def ours_prompt(prompt):
    """Our Prompt in the same terms."""
    weight, stop = ours_value(prompt.weight), ours_value(prompt.stop)
    return prompt.text, prompt.image, weight, stop, ours_mask(prompt.mask)


@pytest.mark.parametrize("text, row", PROMPTS, ids=[r[0] for r in PROMPTS])
def test_prompt_as_pytti(text, row):
    """A prompt PyTTI runs parses to PyTTI's text, weight, stop, mask and cutoff."""
    assert ours_prompt(parse_prompt(text, names=NAMES)) == expected_prompt(row)


@pytest.mark.parametrize("args, expected", SCENES, ids=[repr(r[0]) for r in SCENES])
def test_scenes_as_pytti(args, expected):
    """Scenes split as in PyTTI (same count, same prompts), and each prompt as PyTTI's."""
    scenes = parse_scenes(*args, names=NAMES)
    assert [[p.source for p in scene.prompts] for scene in scenes] == expected
    for prompt in (p for scene in scenes for p in scene.prompts):
        assert ours_prompt(prompt) == expected_prompt(pytti_prompt(prompt.source))


@pytest.mark.parametrize("args, expected", WEIGHTS, ids=[repr(r[0]) for r in WEIGHTS])
def test_weight_settings_as_pytti(args, expected):
    """Init and stabilisation weights read as the prompt PyTTI makes of them."""
    setting, text = args
    kind = WEIGHT_STRINGS[setting][0]
    ours = parse_target_weight(text, pixel=kind == "pixel", names=NAMES)
    if expected == "off":
        assert ours.weight.is_zero
        return
    weight, stop, *mask = expected
    assert (ours_value(ours.weight), ours_value(ours.stop)) == (
        pytti_value(weight),
        pytti_value(stop),
    )
    if kind == "pixel":
        mask_kind, path, inverted = mask
        assert (ours.mask.kind, ours.mask.path, ours.mask.inverted) == (
            mask_kind or "all",
            path,
            inverted,
        )
    else:
        assert ours_mask(ours.mask) == expected_mask(*mask)


@pytest.mark.parametrize("text, expected", DIRECT, ids=[r[0] for r in DIRECT])
def test_direct_image_prompts_as_pytti(text, expected):
    """Direct image prompts split as MSELoss.TargetImage splits them."""
    ours = [
        (
            p.path,
            ours_value(p.weight),
            ours_value(p.stop),
            p.mask.kind,
            p.mask.path,
            p.mask.inverted,
        )
        for p in parse_direct_image_prompts(text, names=NAMES)
    ]
    assert ours == [
        (path, pytti_value(w), pytti_value(s), kind or "all", mask, inv)
        for path, w, s, kind, mask, inv in expected
    ]


def test_tables_are_the_oracles_output():
    """Re-running PyTTI's code on every input prints the literal tables again."""
    assert [(p, pytti_prompt(p.strip())) for p, _ in PROMPTS] == PROMPTS  # as parse_scenes
    assert [(a, pytti_scenes(*a)) for a, _ in SCENES] == SCENES
    assert [(a, pytti_weight(*a)) for a, _ in WEIGHTS] == WEIGHTS
    direct = [(d, [pytti_pixel(p.strip()) for p in d.split("|") if p.strip()]) for d, _ in DIRECT]
    assert direct == DIRECT


def test_every_row_runs_in_pytti():
    """Each prompt row is one PyTTI can run: every field it evals evaluates at t=0."""
    rows = [row for _, row in PROMPTS]
    rows += [pytti_prompt(p) for _, scenes in SCENES for scene in scenes for p in scene]
    for text, image, weight, stop, *_, cutoff in rows:
        assert text or image
        for field in (weight, stop, cutoff):
            pytti_eval(field)


def test_table_size():
    """The brief asks for at least 60 rows."""
    assert len(PROMPTS) + len(SCENES) + len(WEIGHTS) + len(DIRECT) >= 60


# --- prompts PyTTI cannot run: our reading (module docstring of prompts.py) -------------

# prompt -> ours at t=0, frame 15: (text, weight, stop, mask kind, cutoff), or an error
CANNOT_RUN = [
    ("time (12:30):2", ("time (12:30)", 2.0, -math.inf, "all", None)),
    ("castle:{0:(1), 30:(3)}:0.8", ("castle", 2.0, 0.8, "all", None)),
    ("castle:(10*fHi_prev)", ("castle", 1.5, -math.inf, "all", None)),
    ("castle:(fHi_prev)*2_r", ("castle", 0.3, -math.inf, "right", None)),
    ("castle:1_r_{0:(0.2), 30:(0.8)}", ("castle", 1.0, -math.inf, "right", 0.5)),
    ("a (cat:{0:(1), 30:(3)}", r"unbalanced '\(': it is never closed"),
    ("smile :)", r"unbalanced '\)'"),
    ("cat:2:0.5:9", "too many ':' fields"),
    ("castle:1_r_2_x y", "too many '_' fields"),
]


def _evals(field):
    """PyTTI evaluates the field (or raises)."""
    pytti_eval(field)
    return True


def pytti_runs(prompt, evaluates=_evals):
    """Whether PyTTI can run the prompt: it parses and every field it evals evaluates."""
    try:
        text, image, weight, stop, *_, cutoff = pytti_prompt(prompt)
        for field in (weight, stop, cutoff):
            if not evaluates(field):
                return False
    except Exception:  # noqa: BLE001 - any failure means PyTTI stops there
        return False
    return bool(text or image)


@pytest.mark.parametrize("text, expected", CANNOT_RUN, ids=[r[0] for r in CANNOT_RUN])
def test_prompts_pytti_cannot_run_take_our_reading(text, expected):
    """Only where PyTTI fails do ( ) and { } protect separators, or our errors speak."""
    assert not pytti_runs(text)
    if isinstance(expected, str):
        with pytest.raises(PromptError, match=expected):
            parse_prompt(text, names=NAMES)
        return
    p = parse_prompt(text, names=NAMES)
    cutoff = None if p.mask.cutoff is None else p.mask.cutoff(0.0, 15.0)
    got = (p.text, p.weight(0.0, 15.0, **VALUES), p.stop(0.0, 15.0), p.mask.kind, cutoff)
    assert got == pytest.approx(expected)


# --- deliberate differences (README "Prompt grammar") ----------------------------------


def test_a_zero_weight_does_not_hide_a_bad_stop():
    """PyTTI never evals STOP when WEIGHT is exactly '0'; we check every field."""
    assert pytti_prompt("castle:0:(1), 30:(3)")[2:4] == ("0", "(1), 30:(3)")
    with pytest.raises(PromptError, match="write keyframe schedules in braces"):
        parse_prompt("castle:0:(1), 30:(3)")


def test_a_bare_keyframe_weight_setting_is_a_schedule():
    """PyTTI reads '0:(0), 5:(1)' as weight '0' (off, STOP unread); we read keyframes."""
    assert pytti_weight("direct_init_weight", "0:(0), 5:(1)")[:2] == ("0", "(0), 5:(1)")
    weight = parse_target_weight("0:(0), 5:(1)", pixel=True).weight
    assert (weight(0.0, 0.0), weight(0.0, 2.5), weight(0.0, 5.0)) == (0.0, 0.5, 1.0)


def test_an_inverted_video_mask_of_a_pixel_loss_stays_inverted():
    """PyTTI's set_mask strips the '-' before the Rotoscoper looks for it; we keep it."""
    assert pytti_weight("direct_stabilization_weight", "1_-m.mp4")[2:] == ("video", "m.mp4", False)
    mask = parse_target_weight("1_-m.mp4", pixel=True).mask
    assert (mask.kind, mask.path, mask.inverted) == ("video", "m.mp4", True)


def test_a_weight_setting_whose_colon_pytti_hides_is_an_error():
    """In 'stabilization:1_x]' PyTTI's ']' protects the colon, ignoring the weight."""
    assert pytti_prompt("stabilization:1_x]")[:3] == ("stabilization:1_x]", None, "1")
    with pytest.raises(PromptError, match="unbalanced"):
        parse_target_weight("1_x]", pixel=False)


@pytest.mark.parametrize("scenes", ["", "||", "||||"])
def test_no_scene_at_all_is_an_error(scenes):
    """PyTTI would run zero scenes; we say what to write."""
    assert pytti_scenes(scenes, "style | ", "") == []
    with pytest.raises(PromptError, match="scenes is empty"):
        parse_scenes(scenes, "style | ")


def test_paths_in_brackets_are_stripped():
    """PyTTI opens ' -m.png' (spaces kept, not inverted); we strip, so '-' inverts."""
    assert pytti_prompt("castle:1_[ -m.png]")[4:7] == ("image", " -m.png", False)
    mask = parse_prompt("castle:1_[ -m.png]").mask
    assert (mask.path, mask.inverted) == ("m.png", True)


def test_video_masks_by_extension_and_bracketed_pixel_masks():
    """PyTTI: only '.mp4' is a video, and a pixel mask '[m.png]' names a file '[m.png]'."""
    assert pytti_prompt("castle:1_[m.mov]")[4] == "image"
    assert parse_prompt("castle:1_[m.mov]").mask.kind == "video"
    assert pytti_weight("direct_init_weight", "1_[m.png]")[3] == "[m.png]"
    assert parse_target_weight("1_[m.png]", pixel=True).mask.path == "m.png"


def test_an_empty_direct_path_is_an_error():
    """PyTTI makes a target of zeros for ':2'; we ask for a path."""
    assert pytti_pixel(":2")[0] == ""
    with pytest.raises(PromptError, match="PATH is empty"):
        parse_direct_image_prompts(":2")


# --- property: whatever PyTTI runs parses to PyTTI's fields ----------------------------

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PIECES = [
    "a", "cat", " ", "(", ")", "[", "]", "{", "}", ":", ":", "_", "_", "1", "2", "0.5", "-",
    "t", "r", "u", "f", "[m.png]", "[-m.png]", "[m.mp4]", "sin(t)", "(1)", "fHi", "fHi_prev",
    "[a:b]", "[a_b]", "[a]", "{0:(1), 30:(3)}", "https://x.org/a_b.png", "*", "/",
]  # fmt: skip
grammar = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
LEADS = ["1", "0.5", "-1", "0", "sin(t)", "(1)", "fHi", "2*t", ""]
MASKS = ["", "_", "_m.png", "_-m.png", "_a_b.png", "_[m.png]", "_r", "_r_0.3", "_baby", "_(", "_]"]
STOPS = ["", ":", ":-0.5", ":sin(t)", ":(1), 30:(3)", ":0.5:9", ":]"]
tails = st.lists(st.sampled_from(PIECES), max_size=3).map("".join)
weight_grammar = st.tuples(*map(st.sampled_from, (LEADS, MASKS, STOPS)), tails).map("".join)


def _field_ok(field):
    """PyTTI can eval the field and our expression language takes it."""
    try:
        parse_time_value(field, names=NAMES)
        pytti_eval(field)
    except Exception:  # noqa: BLE001 - PyTTI fails, or an expression beyond our language
        return False
    return True


def _path_ok(path):
    """A mask path PyTTI could open as we do: not empty, no spaces at the ends."""
    return path is None or (path != "" and path == path.strip())


def _texts(value):
    """A time value's text."""
    return value.text


@FUZZ
@given(grammar)
def test_any_prompt_pytti_runs_parses_as_pytti(text):
    """Property: a prompt whose fields PyTTI evals (and we can) gets PyTTI's split."""
    source = text.strip()
    assume(source and "|" not in source)
    try:
        row = pytti_prompt(source)
    except IndexError:
        assume(False)
    t, image, weight, stop, kind, path, inverted, mask_text, cutoff = row
    assume((t or image) and image != "" and _path_ok(path))
    assume(all(_field_ok(f) for f in (weight, stop, cutoff)))
    p = parse_prompt(source, names=NAMES)
    cut = None if cutoff == "0.5000873264" else cutoff.strip()
    video = kind == "video" or (path or "").lower().endswith(VIDEO_EXTENSIONS)
    assert (p.text, p.image, _texts(p.weight), _texts(p.stop)) == (
        t,
        image,
        weight.strip(),
        stop.strip(),
    )
    assert (p.mask.path, p.mask.inverted, p.mask.text) == (path, inverted, mask_text)
    assert p.mask.kind == ("video" if video else LETTERS.get(kind, kind))
    assert (None if p.mask.cutoff is None else p.mask.cutoff.text) == cut


@FUZZ
@given(st.lists(st.sampled_from(PIECES + ["|", "||", " ", "\t"]), max_size=14).map("".join))
def test_any_scenes_pytti_runs_split_as_pytti(text):
    """Property: scenes split to PyTTI's scene count and prompts."""
    expected = pytti_scenes(text, "", "")
    assume(all(pytti_runs(p, _field_ok) for scene in expected for p in scene))
    if not expected:
        with pytest.raises(PromptError, match="scenes is empty"):
            parse_scenes(text, names=NAMES)
        return
    try:
        scenes = parse_scenes(text, names=NAMES)
    except PromptError:
        # only a field beyond our expression language may fail
        assume(False)
    assert [[p.source for p in s.prompts] for s in scenes] == expected


@FUZZ
@given(st.sampled_from(sorted(WEIGHT_STRINGS)), weight_grammar)
def test_any_weight_setting_pytti_runs_reads_as_pytti(setting, text):
    """Property: a weight setting PyTTI runs has PyTTI's weight, stop and mask."""
    text = text.strip()
    kind, template = WEIGHT_STRINGS[setting]
    assume("|" not in text)
    try:
        expected = pytti_weight(setting, text)
    except IndexError:
        assume(False)
    pixel = kind == "pixel"
    if expected == "off":
        assert parse_target_weight(text, pixel=pixel).weight.is_zero
        return
    weight, stop, *mask = expected
    assume(_field_ok(weight) and _field_ok(stop))
    if pixel:
        mask_kind, path, inverted = mask
        assume(_path_ok(path) and not (path or "").startswith("[") and mask_kind != "video")
    else:
        t, *_ = pytti_prompt(template.format(text))
        mask_kind, path, inverted, mask_text, cutoff = mask
        assume(t == template.format("")[:-1] and _path_ok(path) and _field_ok(cutoff))
        assume(mask_kind != "video" and not (path or "").lower().endswith(VIDEO_EXTENSIONS))
    ours = parse_target_weight(text, pixel=pixel, names=NAMES)
    assert (_texts(ours.weight), _texts(ours.stop)) == (weight.strip(), stop.strip())
    assert (ours.mask.path, ours.mask.inverted) == (path, inverted)
    if not pixel:
        assert ours.mask.kind == LETTERS.get(mask_kind, mask_kind)
        assert ours.mask.text == mask_text


@FUZZ
@given(st.sampled_from(["a.png", "https://x.org/a_b.png", "(a).png", "a(.png"]), weight_grammar)
def test_any_direct_prompt_pytti_runs_reads_as_pytti(path, rest):
    """Property: a direct image prompt PyTTI runs has PyTTI's path, weight, stop and mask."""
    text = f"{path}:{rest}"
    assume("|" not in text)
    path, weight, stop, mask_kind, mask_path, inverted = pytti_pixel(text)
    assume(_field_ok(weight) and _field_ok(stop) and _path_ok(mask_path))
    assume(not (mask_path or "").startswith("[") and mask_kind != "video")
    (ours,) = parse_direct_image_prompts(text, names=NAMES)
    assert (ours.path, _texts(ours.weight), _texts(ours.stop)) == (
        path,
        weight.strip(),
        stop.strip(),
    )
    assert (ours.mask.path, ours.mask.inverted) == (mask_path, inverted)
