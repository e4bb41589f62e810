"""One source of truth: every fact about a setting lives in its schema entry. The choice
registries of the implementation equal the schema's choices, and every list of setting names
outside schema.py is derived from schema metadata (or is one of the few listed below, each
checked here or a use of the settings rather than a fact about them)."""

import ast
from pathlib import Path

import pytti_nb
from pytti_nb.config.schema import FLOWING, MOTION_KINDS, names_where, schema, schema_by_name

PACKAGE = Path(pytti_nb.__file__).parent
NAMES = frozenset(info.name for info in schema())
CHOICES = frozenset(c for info in schema() for c in info.choices if isinstance(c, str))
# Literals outside schema.py that hold two or more setting names or choice strings, by file and
# their strings; each is a registry checked in this file, or uses settings without stating a
# fact about them (a preset's values, constructor keywords, a tool's own choices).
KNOWN = {
    ("animation/warp.py", ("nearest", "bilinear", "bicubic")): "checked: sampling_mode",
    ("animation/warp.py", ("mirror", "wrap", "black", "smear")): "checked: infill_mode",
    ("animation/warp.py", ("mirror", "black", "smear")): "padding of the infill modes but wrap",
    ("perception/cutouts.py", ("clamp", "mirror", "wrap", "black", "smear")): "checked: border_mode",
    ("models/flow_weights.py", ("dis", "raft_small", "raft_large")): "checked: flow_model",
    ("models/flow_weights.py", ("raft_small", "raft_large")): "torchvision's weights of the RAFT models",
    ("engine/optim.py", ("Adam", "AdamW", "RAdam", "NAdam", "Adamax", "SGD")): "checked",
    ("image_models/__init__.py", ("Unlimited Palette", "Limited Palette", "VQGAN", "FFT", "Pyramid")): "checked",
    ("image_models/__init__.py", ("Limited Palette", "VQGAN", "FFT", "Pyramid")): "each model's options",
    ("perception/perceptors.py", ("fp32", "fp16", "bf16")): "checked: precision",
    ("losses/build.py", (
        "direct_stabilization_weight", "edge_stabilization_weight", "depth_stabilization_weight",
    )): "checked: PIXEL_STABILIZATION",
    ("sweep/spec.py", ("file_namespace", "output_root", "allow_overwrite")): "checked: RESERVED",
    ("config/pytti_import.py", ("display_every", "save_every")): "PyTTI's 'never' values",
    ("image_models/base.py", ("width", "height", "pixel_size")): "constructor keywords",
    ("models/depth_config.py", ("height", "width")): "the depth processor's size keys",
    ("models/depth.py", ("height", "width")): "the random depth model's processor size",
    ("models/depth_config.py", ("height", "width", "shortest_edge")): "the depth processor's size keys",
    ("demo/__init__.py", None): "the demo's preset values",
    ("bench.py", None): "the benchmark's own presets and command line",
    ("sweep/pool.py", ("auto", "cuda")): "devices that run on a GPU",
}  # fmt: skip


def _choices(name):
    return schema_by_name()[name].choices


def _literals():
    """(file, strings) of every literal outside schema.py with 2+ setting names or choices."""
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where == "config/schema.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                strings = tuple(
                    e.value
                    for e in items
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                )
                if sum(s in NAMES for s in strings) >= 2 or sum(s in CHOICES for s in strings) >= 2:
                    yield where, strings


def test_every_choice_registry_equals_the_schemas_choices():
    from pytti_nb.animation.warp import INFILL_MODES, SAMPLING_MODES
    from pytti_nb.engine.optim import OPTIMIZERS
    from pytti_nb.image_models import IMAGE_MODELS
    from pytti_nb.models.flow_weights import FLOW_MODELS
    from pytti_nb.perception.cutouts import BORDER_MODES
    from pytti_nb.perception.perceptors import resolve_precision

    assert BORDER_MODES == _choices("border_mode")
    assert SAMPLING_MODES == _choices("sampling_mode")
    assert INFILL_MODES == _choices("infill_mode")
    assert set(FLOW_MODELS) == set(_choices("flow_model"))  # its own order: cheapest first
    assert tuple(OPTIMIZERS) == _choices("optimizer")
    assert tuple(IMAGE_MODELS) == _choices("image_model")
    for precision in _choices("precision"):
        resolve_precision(precision, "cpu")  # every choice is known (an unknown one raises)


def test_the_lists_of_setting_names_are_the_schemas():
    from pytti_nb.animation.motion import MOTION_2D, MOTION_3D, motion_names
    from pytti_nb.config.output_choices import OUTPUT_CHOICES
    from pytti_nb.config.plan import INIT_WEIGHTS
    from pytti_nb.config.pytti_import import PYTTI_BEHAVIOUR, RENAMED
    from pytti_nb.losses.build import PIXEL_STABILIZATION, stabilization_term
    from pytti_nb.sweep.checks import MODEL_SETTINGS, UNCOMPARED
    from pytti_nb.sweep.spec import RESERVED
    from pytti_nb.ui.panel import CSS_CLASS

    assert MOTION_2D == ("translate_x", "translate_y", "rotate_2d", "zoom_x_2d", "zoom_y_2d")
    assert MOTION_3D == ("translate_x", "translate_y", "translate_z_3d", "rotate_3d")
    assert set(MOTION_2D) | set(MOTION_3D) == {i.name for i in schema() if i.kind in MOTION_KINDS}
    assert motion_names("off") == motion_names("Video Source") == ()
    assert INIT_WEIGHTS == names_where(init=True) == ("direct_init_weight", "semantic_init_weight")
    assert MODEL_SETTINGS == names_where(models=True)
    assert UNCOMPARED == names_where(compared=False) == ("output_root",)
    assert OUTPUT_CHOICES == names_where(user_only=True) == ("output_root", "allow_overwrite")
    assert RESERVED == names_where(run_folder=True)
    assert set(OUTPUT_CHOICES) < set(RESERVED)
    assert RENAMED == {"models_parent_dir": "models_cache_dir"}
    assert PYTTI_BEHAVIOUR == {i.name: i.pytti_value for i in schema() if i.pytti_value}
    assert PYTTI_BEHAVIOUR["augmentations"] == PYTTI_BEHAVIOUR["camera"] == "pytti"
    assert CSS_CLASS == {"scenes": "pytti-scenes"}
    stabilizers = {i.name for i in schema() if i.name.endswith("_stabilization_weight")}
    assert set(PIXEL_STABILIZATION) == stabilizers - {
        "flow_stabilization_weight",
        "semantic_stabilization_weight",
    }
    assert {stabilization_term(n) for n in PIXEL_STABILIZATION} == {
        "stabilization_direct",
        "stabilization_edge",
        "stabilization_depth",
    }
    assert schema_by_name()["flow_stabilization_weight"].visible_when["animation_mode"] == FLOWING


def test_each_setting_of_the_sweeps_run_folder_is_set_per_render(tmp_path):
    from pytti_nb.sweep.spec import RESERVED, expand, parse_sweep

    data = {"base": {"scenes": "a"}, "grid": {"steps_per_scene": [1, 2]}}
    renders = expand(parse_sweep(data, folder=tmp_path, out=tmp_path / "sweep"), seed=0)
    assert all(set(RESERVED) <= set(r.changes) for r in renders)


def test_an_upload_points_the_setting_of_its_kind_at_the_file():
    from pytti_nb.ui.media import setting_for

    assert names_where(upload="video") == ("video_path",)
    for name, setting in {
        "a.mp4": "video_path", "a.MOV": "video_path", "a.gif": None, "a.wav": "input_audio",
        "a.opus": "input_audio", "a.png": "init_image", "a.JPEG": "init_image", "a.txt": None,
    }.items():  # fmt: skip
        assert setting_for(name) == setting, name


def test_an_upload_says_where_to_choose_the_mode_its_setting_needs():
    from pytti_nb.ui.media import _hint

    assert _hint("video_path") == " (choose Video Source on the Animation tab)"
    assert _hint("input_audio") == _hint("init_image") == ""


def test_the_panels_placeholders_come_from_the_schema():
    from pytti_nb.ui.controls import _placeholder

    by_name = schema_by_name()
    assert _placeholder(by_name["scenes"]) == "a castle:2 | blue sky:0.5 || a forest"
    assert _placeholder(by_name["perceptors"]) == "ViT-B-32@openai"
    assert _placeholder(by_name["init_image"]) == "path/to/image.png (optional)"
    assert _placeholder(by_name["seed"]) == "empty: automatic"
    assert _placeholder(by_name["width"]) == ""


def test_no_module_holds_an_unchecked_list_of_setting_names_or_choices():
    found = set(_literals())
    unknown = [
        (where, strings)
        for where, strings in found
        if (where, strings) not in KNOWN and (where, None) not in KNOWN
    ]
    assert not unknown, f"setting facts outside schema.py: {unknown}"
    gone = [k for k in KNOWN if k[1] is not None and k not in found]
    assert not gone, f"KNOWN lists literals that are no longer there: {gone}"
